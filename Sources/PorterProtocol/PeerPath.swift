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

    /// The components of a relative path a peer sent for local creation, each checked with
    /// ``problem(withLocalName:)``.
    public static func localComponents(of path: String) throws(ProtocolError) -> [String] {
        guard !path.isEmpty, !isAbsolute(path), path.utf8.count <= maxLength else {
            throw ProtocolError(.badPath, "the peer sent an absolute, empty or overlong path")
        }
        var components: [String] = []
        for part in split(path, omittingEmpty: false) {
            if let problem = problem(withLocalName: part) { throw ProtocolError(.badPath, "refused: \(problem)") }
            components.append(String(part))
        }
        return components
    }

    /// Whether a symlink at `link` (components relative to a root) with this `target` stays inside the root when
    /// read lexically: the target is relative and its `..` never climbs above the root.
    public static func symlinkStaysInside(at link: [String], target: String) -> Bool {
        guard !target.isEmpty, !isAbsolute(target), !target.utf8.contains(0), target.utf8.count <= maxLength
        else { return false }
        var depth = link.count - 1
        for part in split(target) where !isDot(part) {
            depth += isDotDot(part) ? -1 : 1
            if depth < 0 { return false }
        }
        return true
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
