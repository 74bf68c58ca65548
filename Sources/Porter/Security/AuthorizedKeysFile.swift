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
/// Each new connection asks for ``current()``, which compares the file's identity, size and modification time
/// with those of the last read: a changed file is read and parsed again, so that a removed key cannot open a new
/// connection, without a restart (connections already open keep the keys they authenticated with). A line with a
/// mistake is logged once per read, naming file and line, and the other lines still work. A file that cannot be
/// read (removed, unreadable, too large) accepts no key until it can be read again.
public final class AuthorizedKeysFile: Sendable {
    /// `~/.porter/authorized_keys`, read by `porter serve` when it exists.
    public static var defaultPath: String { PorterDirectory.path + "/authorized_keys" }

    /// The largest file read: about 20,000 keys.
    public static let maximumSize = 4 * 1024 * 1024

    /// The file's path.
    public let path: String
    private let logger: Logger
    private let state: NIOLockedValueBox<(stamp: Stamp?, keys: AuthorizedKeys)>

    /// What identifies one version of the file.
    private struct Stamp: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var modifiedNanoseconds: Int
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
        self.state = NIOLockedValueBox((stamp, keys))
        report(keys)
    }

    /// The keys as the file says now.
    public func current() -> AuthorizedKeys {
        let stamp = Self.stamp(of: path)
        let (cached, unchanged) = state.withLockedValue { ($0.keys, $0.stamp == stamp && stamp != nil) }
        if unchanged { return cached }
        let keys: AuthorizedKeys
        do {
            keys = try Self.read(path)
            report(keys)
        } catch {
            logger.error("\(error.message); accepting no key until it can be read")
            keys = AuthorizedKeys(text: "", path: path)
        }
        state.withLockedValue { $0 = (stamp, keys) }
        return keys
    }

    private func report(_ keys: AuthorizedKeys) {
        for problem in keys.problems { logger.warning("\(problem.description); the line is ignored") }
    }

    private static func read(_ path: String) throws(PorterError) -> AuthorizedKeys {
        guard let bytes = try LocalFile.readIfPresent(path, what: "authorized keys file", limit: maximumSize) else {
            throw PorterError(.configuration, "authorized keys file \(path) does not exist")
        }
        return AuthorizedKeys(text: String(decoding: bytes, as: UTF8.self), path: path)
    }

    private static func stamp(of path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Stamp(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: Int64(info.st_mtim.tv_sec), modifiedNanoseconds: Int(info.st_mtim.tv_nsec))
    }
}
