/// Checks of paths and names that come from the peer, before anything touches a file system.
///
/// These are the first line of defence; the second is that every file is opened beneath a directory descriptor
/// with the kernel's `RESOLVE_BENEATH`, which also stops symlinks that lead out.
public enum PeerPath {
    /// The longest path accepted, in bytes (Linux `PATH_MAX`).
    public static let maxLength = 4096
    /// The longest path component accepted, in bytes (Linux `NAME_MAX`).
    public static let maxComponentLength = 255

    /// The components of `path`, a path relative to a root: empty for the root itself (`""` or `"."`).
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badPath`` for an absolute path, a `..` component,
    ///   a NUL byte, or a path or component over the length limits.
    public static func components(of path: String) throws(ProtocolError) -> [String] {
        let shown = String(path.unicodeScalars.prefix(80))
        guard path.utf8.count <= maxLength else {
            throw ProtocolError(.badPath, "path is longer than \(maxLength) bytes")
        }
        guard !path.utf8.contains(0) else { throw ProtocolError(.badPath, "path contains a NUL byte") }
        guard !isAbsolute(path) else {
            throw ProtocolError(.badPath, "'\(shown)' is absolute; paths are relative to the server's root")
        }
        var components: [String] = []
        for part in split(path) where !isDot(part) {
            guard !isDotDot(part) else { throw ProtocolError(.badPath, "'\(shown)' contains '..'") }
            guard part.utf8.count <= maxComponentLength else {
                throw ProtocolError(.badPath, "a name in the path is longer than \(maxComponentLength) bytes")
            }
            components.append(String(part))
        }
        return components
    }

    /// Why `name`, one component that a peer sent to be created locally, is unsafe, or `nil` if it is safe:
    /// empty, `.`, `..`, a `/`, or a control character (which could rewrite a terminal when printed).
    public static func problem(withLocalName name: Substring) -> String? {
        if name.isEmpty || isDot(name) || isDotDot(name) { return "'\(name)' is not a file name" }
        if name.utf8.contains(slash) { return "a name contains '/'" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            return "a name contains a control character"
        }
        if name.utf8.count > maxComponentLength { return "a name is longer than \(maxComponentLength) bytes" }
        return nil
    }

    /// Why `path`, a relative path a peer sent for local creation, is unsafe, or `nil` if it is safe: absolute,
    /// empty or overlong, or a component with a ``problem(withLocalName:)``.
    public static func problem(withLocalPath path: String) -> String? {
        guard !path.isEmpty, !isAbsolute(path), path.utf8.count <= maxLength else {
            return "an absolute, empty or overlong path"
        }
        for part in split(path, omittingEmpty: false) {
            if let problem = problem(withLocalName: part) { return problem }
        }
        return nil
    }

    /// The components of a relative path a peer sent for local creation, checked with
    /// ``problem(withLocalPath:)``.
    public static func localComponents(of path: String) throws(ProtocolError) -> [String] {
        if let problem = problem(withLocalPath: path) { throw ProtocolError(.badPath, "refused: \(problem)") }
        return split(path, omittingEmpty: false).map(String.init)
    }

    /// Whether a symlink at `link` with this `target` may be created: ``problem(withSymlinkAt:target:)`` is `nil`.
    public static func symlinkStaysInside(at link: [String], target: String) -> Bool {
        problem(withSymlinkAt: link, target: target) == nil
    }

    /// Why a symlink at `link` (components relative to a root, the link's own name last) pointing to `target`
    /// could resolve outside the root, or `nil` if it cannot.
    ///
    /// The rule: `target` is relative and, `.` components and empty ones aside, is a run of `..` no longer than
    /// the link's depth (`link.count - 1`) followed only by names; never `..` after a name.
    ///
    /// Why that is enough, given that the link is created in a directory reached without following any symlink
    /// (``ConfinedDirectory``'s `makeSymlink` opens it with `RESOLVE_NO_SYMLINKS`), so that the directory lies
    /// physically as deep as `link` reads: resolving the target starts in that directory, at depth `d`, and each
    /// leading `..` goes to its real parent, so after `k <= d` of them resolution is in a real directory inside
    /// the root. Every later component is a name looked up in a directory inside the root: a real entry is
    /// inside it, and a symlink is one that obeys this rule too, so by induction on the symlinks expanded (the
    /// kernel stops at 40) it resolves inside the root as well. Resolution never climbs from a place reached
    /// through a symlink, because no `..` follows a name — and that is exactly how a lexical check is fooled:
    /// with `up -> ..`, the target `up/..` reads as "here" but is the parent of `up`'s target, one level above
    /// the link's directory, and a chain of such links climbs out of any tree. The argument holds whatever the
    /// order in which links are created and whether their targets exist yet (what appears later is a real entry
    /// or another link under the rule). A symlink that was in the tree before, made by something else, is
    /// outside the induction: `makeSymlink` therefore also resolves each new link, following it, with
    /// `RESOLVE_BENEATH` before putting it in place, and refuses it if it leads out through such a link now.
    public static func problem(withSymlinkAt link: [String], target: String) -> String? {
        guard !target.isEmpty else { return "its target is empty" }
        guard !isAbsolute(target) else { return "its target is absolute" }
        guard !target.utf8.contains(0), target.utf8.count <= maxLength else {
            return "its target holds a NUL byte or is longer than \(maxLength) bytes"
        }
        var climbs = 0
        var named = false
        for part in split(target) where !isDot(part) {
            if isDotDot(part) {
                guard !named else {
                    return "its target has '..' after a name, which can lead out through another symlink"
                }
                climbs += 1
            } else {
                named = true
            }
        }
        guard climbs < max(link.count, 1) else { return "its target climbs above the top of the tree" }
        return nil
    }

    /// The parts of `path` between `/` bytes.
    ///
    /// Paths are split and compared by bytes, never by `Character`: a `/` followed by a combining mark, or
    /// preceded by a prepended mark such as U+0603, forms one grapheme cluster with it, so splitting a `String`
    /// at the `Character` "/" would leave slashes — and `..` — inside a "component".
    public static func split(_ path: String, omittingEmpty: Bool = true) -> [Substring] {
        path.utf8.split(separator: slash, omittingEmptySubsequences: omittingEmpty).map { Substring($0) }
    }

    private static let slash = UInt8(ascii: "/")
    private static func isAbsolute(_ path: String) -> Bool { path.utf8.first == slash }
    private static func isDot(_ part: Substring) -> Bool { part.utf8.elementsEqual(".".utf8) }
    private static func isDotDot(_ part: Substring) -> Bool { part.utf8.elementsEqual("..".utf8) }
}
