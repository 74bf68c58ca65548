import CPorterSystem
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// A directory that every path is resolved beneath, by the kernel, in the same step that opens it.
///
/// Paths are opened with `openat2(RESOLVE_BENEATH)` relative to a descriptor held for the directory's lifetime,
/// so `..`, absolute paths and symlinks that lead out fail (`EXDEV`) however the tree changes meanwhile: there
/// is no check-then-open race. The server's root is one; so is the target directory of a recursive download, so
/// a hostile server cannot make the client write elsewhere either.
///
/// Every method makes blocking system calls: call them on a thread pool (see ``BlockingIO``), never on an event
/// loop.
final class ConfinedDirectory: Sendable {
    /// The directory as it was named, for messages.
    let path: String
    /// An `PORTER_O_PATH` descriptor of the directory.
    let descriptor: CInt

    /// Opens the directory `path`.
    init(path: String) throws(ProtocolError) {
        let descriptor = Glibc.open(path, PORTER_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Self.failure(errno, path.isEmpty ? "." : path) }
        self.path = path
        self.descriptor = descriptor
    }

    /// Opens the directory `components` names beneath `parent`, by the kernel as every path is: a `..` or a
    /// symlink that leads out of `parent` fails.
    init(beneath parent: ConfinedDirectory, _ components: [String]) throws(ProtocolError) {
        self.descriptor = try parent.open(components, flags: PORTER_O_PATH | O_DIRECTORY | O_CLOEXEC)
        self.path = ([parent.path] + components).joined(separator: "/")
    }

    deinit { Glibc.close(descriptor) }

    /// Opens `components` beneath the directory with `flags` (and `mode` when creating); `[]` is the directory.
    func open(_ components: [String], flags: CInt, mode: mode_t = 0) throws(ProtocolError) -> CInt {
        let relative = components.isEmpty ? "." : components.joined(separator: "/")
        let opened = porter_open_beneath(descriptor, relative, flags, mode)
        guard opened >= 0 else { throw Self.failure(errno, relative) }
        return opened
    }

    /// Opens the directory that holds `components`' last name; returns it (`PORTER_O_PATH`) and that name.
    func openParent(of components: [String]) throws(ProtocolError) -> (descriptor: CInt, name: String) {
        guard let name = components.last else {
            throw ProtocolError(.badPath, "the root itself cannot be the target")
        }
        return (try open(Array(components.dropLast()), flags: PORTER_O_PATH | O_DIRECTORY), name)
    }

    /// The entry at `components`, not following a final symlink.
    func entry(_ components: [String]) throws(ProtocolError) -> ControlMessage.FileEntry {
        let descriptor = try open(components, flags: PORTER_O_PATH | O_NOFOLLOW)
        defer { Glibc.close(descriptor) }
        return try Self.entry(of: descriptor, path: components.last ?? ".")
    }

    /// Creates the directory `components` (an existing directory is fine) with permissions `0o700` until its
    /// attributes are set.
    func makeDirectory(_ components: [String]) throws(ProtocolError) {
        let (parent, name) = try openParent(of: components)
        defer { Glibc.close(parent) }
        if mkdirat(parent, name, 0o700) != 0 {
            let code = errno
            var status = stat()
            guard code == EEXIST, fstatat(parent, name, &status, AT_SYMLINK_NOFOLLOW) == 0,
                status.st_mode & S_IFMT == S_IFDIR
            else { throw Self.failure(code, components.joined(separator: "/")) }
        }
    }

    /// Creates a symlink at `components` pointing to `target`, which can never resolve outside this directory.
    ///
    /// Three steps make that hold (``PeerPath/problem(withSymlinkAt:target:)`` gives the argument): the target must
    /// obey the rule for links; the link's directory is opened without following any symlink, so the link is as
    /// deep as `components` reads; and the new link is made under a temporary name, resolved from the top with
    /// `RESOLVE_BENEATH` (which catches a way out through a symlink that something else put in the tree), and
    /// only then renamed into place, never over an existing entry.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badPath`` for a target that could lead out or a
    ///   directory on the way that is a symlink; a failure of the system calls otherwise.
    func makeSymlink(_ components: [String], target: String) throws(ProtocolError) {
        let path = components.joined(separator: "/")
        let shown = "'\(TerminalText.escaped(path))' -> '\(TerminalText.escaped(target))'"
        if let problem = PeerPath.problem(withSymlinkAt: components, target: target) {
            throw ProtocolError(.badPath, "symlink \(shown): \(problem)")
        }
        guard let name = components.last else {
            throw ProtocolError(.badPath, "the root itself cannot be the target")
        }
        let above = Array(components.dropLast())
        let parent = porter_open_physical(
            descriptor, above.isEmpty ? "." : above.joined(separator: "/"), PORTER_O_PATH | O_DIRECTORY, 0)
        guard parent >= 0 else {
            let code = errno
            guard code == ELOOP else { throw Self.failure(code, path) }
            throw ProtocolError(.badPath, "symlink \(shown): a directory on its way is a symlink")
        }
        defer { Glibc.close(parent) }
        let temporary = ".porter-link-" + String(UInt64.random(in: .min ... .max), radix: 16)
        guard symlinkat(target, parent, temporary) == 0 else { throw Self.failure(errno, path) }
        let resolved = porter_open_beneath(
            descriptor, (above + [temporary]).joined(separator: "/"), PORTER_O_PATH, 0)
        let code = errno
        if resolved >= 0 { Glibc.close(resolved) }
        // A missing target (a dangling link) or a loop cannot lead anywhere; only a way out is refused.
        if resolved < 0, code == EXDEV {
            unlinkat(parent, temporary, 0)
            throw ProtocolError(.badPath, "symlink \(shown): it leads outside the tree through another symlink")
        }
        let renamed = porter_rename_noreplace(parent, temporary, parent, name)
        guard renamed == 0 else {
            unlinkat(parent, temporary, 0)
            throw Self.failure(renamed, path)
        }
    }

    /// Sets a directory's permission bits (only `0o777` of `mode`) and modification time.
    func setAttributes(
        _ components: [String], mode: UInt32?, mtime: ControlMessage.FileTime?
    ) throws(ProtocolError) {
        let descriptor = try open(components, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        defer { Glibc.close(descriptor) }
        try Self.apply(mode: mode, mtime: mtime, to: descriptor, path: components.joined(separator: "/"))
    }

    /// Sets permission bits (masked to `0o777`: never setuid, setgid or sticky) and modification time on an open
    /// descriptor.
    static func apply(
        mode: UInt32?, mtime: ControlMessage.FileTime?, to descriptor: CInt, path: String
    ) throws(ProtocolError) {
        if let mode, fchmod(descriptor, mode_t(mode & 0o777)) != 0 { throw failure(errno, path) }
        if let mtime {
            let times = [
                timespec(tv_sec: 0, tv_nsec: PORTER_UTIME_OMIT),
                timespec(tv_sec: Int(mtime.seconds), tv_nsec: min(max(mtime.nanoseconds, 0), 999_999_999)),
            ]
            if futimens(descriptor, times) != 0 { throw failure(errno, path) }
        }
    }

    /// The listing entry for an open descriptor.
    static func entry(of descriptor: CInt, path: String) throws(ProtocolError) -> ControlMessage.FileEntry {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure(errno, path) }
        var entry = ControlMessage.FileEntry(status, path: path)
        if entry.type == .symlink {
            entry.target = readLink(descriptor, name: "", size: Int(status.st_size))
        }
        return entry
    }

    /// A symlink's target, read relative to `directory`.
    static func readLink(_ directory: CInt, name: String, size: Int) -> String? {
        var bytes = [UInt8](repeating: 0, count: max(size, 0) + 1)
        let count = readlinkat(directory, name, &bytes, bytes.count)
        guard count >= 0, count < bytes.count else { return nil }
        return String(validating: bytes[..<count], as: UTF8.self)
    }

    /// The protocol error for a failed system call on `path`.
    static func failure(_ code: CInt, _ path: String) -> ProtocolError {
        let shown = TerminalText.escaped(String(path.unicodeScalars.prefix(200)))
        switch code {
        case ENOENT: return ProtocolError(.notFound, "'\(shown)': no such file or directory")
        case EXDEV, ELOOP:
            return ProtocolError(.badPath, "'\(shown)' leads outside the root (through '..' or a symlink)")
        case ENAMETOOLONG: return ProtocolError(.badPath, "'\(shown)': name too long")
        default: return ProtocolError(.fileError, "'\(shown)': \(String(cString: strerror(code)))")
        }
    }
}

extension ControlMessage.FileEntry {
    /// The entry for a `stat` result.
    init(_ status: stat, path: String) {
        let type: ControlMessage.FileType =
            switch status.st_mode & S_IFMT {
            case S_IFREG: .file
            case S_IFDIR: .directory
            case S_IFLNK: .symlink
            default: .other
            }
        self.init(
            path: path, type: type, size: Int64(status.st_size), mode: UInt32(status.st_mode & 0o7777),
            mtime: .init(seconds: Int64(status.st_mtim.tv_sec), nanoseconds: Int(status.st_mtim.tv_nsec)))
    }
}
