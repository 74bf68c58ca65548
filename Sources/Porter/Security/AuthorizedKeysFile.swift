import Logging
import NIOConcurrencyHelpers
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The server's authorized keys file (`serve --authorized-keys`), read again whenever it changes.
///
/// Each key a client offers asks for ``current()``, which compares the file's identity, size, modification and
/// change times with those of the last read: a changed file is read and parsed again, so that a removed key cannot
/// open a new connection, without a restart (connections already open keep the keys they authenticated with). A line with a mistake is logged once per
/// read, naming file and line, and the other lines still work. A file that cannot be used (removed, unreadable,
/// too large, writable by others) accepts no key until it can be used again.
public final class AuthorizedKeysFile: Sendable {
    /// `~/.porter/authorized_keys`, read by `porter serve` when it exists.
    public static var defaultPath: String { PorterDirectory.path + "/authorized_keys" }

    /// The largest file read: about 20,000 keys.
    public static let maximumSize = 4 * 1024 * 1024

    /// The file's path.
    public let path: String
    private let logger: Logger
    private let state: NIOLockedValueBox<(stamp: Stamp?, keys: AuthorizedKeys, failure: String?)>

    /// What identifies one version of the file: an edit in place changes the change time even when it keeps
    /// the size and the modification time (`cp -p`, `touch -r`).
    private struct Stamp: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: timespec
        var changed: timespec

        static func == (a: Stamp, b: Stamp) -> Bool {
            (a.device, a.inode, a.size) == (b.device, b.inode, b.size)
                && (a.modified.tv_sec, a.modified.tv_nsec) == (b.modified.tv_sec, b.modified.tv_nsec)
                && (a.changed.tv_sec, a.changed.tv_nsec) == (b.changed.tv_sec, b.changed.tv_nsec)
        }
    }

    /// Reads `path` now.
    ///
    /// - Throws: ``PorterError`` of kind ``PorterError/Kind/configuration`` when the file cannot be read at start:
    ///   a server told to use a file it cannot read should not start.
    public init(path: String, logger: Logger) throws(PorterError) {
        self.path = path
        self.logger = logger
        let stamp = Self.stamp(of: path)
        guard stamp != nil else {
            throw PorterError(.configuration, "cannot read authorized keys file \(path): \(errnoDescription())")
        }
        let keys = try Self.read(path)
        self.state = NIOLockedValueBox((stamp, keys, nil))
        report(keys)
    }

    /// The keys as the file says now. A file that cannot be used is logged once, when it becomes so, not at
    /// every connection.
    public func current() -> AuthorizedKeys {
        let stamp = Self.stamp(of: path)
        let (cached, unchanged, failed) = state.withLockedValue {
            ($0.keys, $0.stamp == stamp && stamp != nil, $0.failure)
        }
        if unchanged { return cached }
        let keys: AuthorizedKeys
        var failure: String?
        do {
            keys = try Self.read(path)
            report(keys)
        } catch {
            failure = error.message
            if failure != failed { logger.error("\(error.message); accepting no key until it can be used") }
            keys = AuthorizedKeys(text: "", path: path)
        }
        state.withLockedValue { $0 = (stamp, keys, failure) }
        return keys
    }

    private func report(_ keys: AuthorizedKeys) {
        for problem in keys.problems { logger.warning("\(problem.description); the line is ignored") }
    }

    /// Reads and parses the file, refusing one that another user could change (as OpenSSH's `StrictModes`): it
    /// must belong to the server's user or root, and be writable by neither its group nor others.
    private static func read(_ path: String) throws(PorterError) -> AuthorizedKeys {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw PorterError(.configuration, "cannot read authorized keys file \(path): \(errnoDescription())")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw PorterError(.configuration, "cannot read authorized keys file \(path): \(errnoDescription())")
        }
        guard info.st_uid == geteuid() || info.st_uid == 0 else {
            throw PorterError(
                .configuration, "authorized keys file \(path) belongs to another user (uid \(info.st_uid)); refused")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw PorterError(
                .configuration,
                "authorized keys file \(path) can be changed by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod go-w \(path)"
            )
        }
        let bytes = try LocalFile.readAll(fd, path: path, what: "authorized keys file", limit: maximumSize)
        return AuthorizedKeys(text: String(decoding: bytes, as: UTF8.self), path: path)
    }

    private static func stamp(of path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Stamp(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: info.st_mtim, changed: info.st_ctim)
    }
}
