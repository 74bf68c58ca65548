#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The socket file of a unix-domain listener: claimed only when no server answers there, and removed when the
/// server stops only while it is still the file this server made.
///
/// A live server's socket is never taken over: a second server started on its path fails, naming the path. A
/// socket file that nothing answers (a server that died without cleaning up) is stale and is replaced. The
/// socket is bound here rather than by NIO, whose listener deletes whatever socket file stands at its path when
/// it closes, even one another server has put there since.
struct UnixSocketFile: Sendable {
    /// The socket's path.
    let path: String
    /// Device, inode and change time of the file bound: an inode number is reused at once after an unlink, so
    /// the number alone would not tell this server's file from one made in its place.
    private let identity: [Int]

    /// Binds a new stream socket at `path` (mode 0600), not yet listening, and returns its descriptor.
    ///
    /// - Throws: ``PorterError`` naming the path if a server answers there, if something other than a socket is
    ///   there, or if the socket cannot be bound.
    static func bind(_ path: String) throws(PorterError) -> (descriptor: Int32, file: UnixSocketFile) {
        func failure(_ why: String) -> PorterError {
            PorterError(.configuration, "cannot listen on unix:\(path): \(why)")
        }
        guard var address = socketAddress(path) else {
            throw failure(
                "the path is longer than a socket address holds (\(pathCapacity - 1) bytes); choose a shorter one")
        }
        try claim(path, address: &address, failure: failure)
        let descriptor = streamSocket()
        guard descriptor >= 0 else { throw failure(errnoDescription()) }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let why = errno == EADDRINUSE ? "another server took the path just now" : errnoDescription()
            close(descriptor)
            throw failure(why)
        }
        // Only the owner may connect (the token is still required). Nobody can connect before listen(), so the
        // mode is in place before the socket can be reached.
        var status = stat()
        guard chmod(path, 0o600) == 0, lstat(path, &status) == 0 else {
            let why = errnoDescription()
            close(descriptor)
            unlink(path)
            throw failure(why)
        }
        return (descriptor, UnixSocketFile(path: path, identity: identity(of: status)))
    }

    /// Removes the socket file if it is still the one this server bound: another server may have replaced it.
    func remove() {
        var status = stat()
        guard lstat(path, &status) == 0, Self.identity(of: status) == identity else { return }
        unlink(path)
    }

    /// Makes `path` free: nothing is there, or a stale socket file, which is removed.
    private static func claim(
        _ path: String, address: inout sockaddr_un, failure: (String) -> PorterError
    ) throws(PorterError) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw failure("it exists and is not a socket; remove it or choose another path")
        }
        #if canImport(Glibc)
            let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
            let type = SOCK_STREAM
        #endif
        let probe = socket(AF_UNIX, type, 0)
        guard probe >= 0 else { throw failure(errnoDescription()) }
        defer { close(probe) }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        // Accepted, or queued behind a full backlog: a live server. Refused: nothing listens, the file is stale.
        if connected == 0 || errno == EAGAIN || errno == EINPROGRESS {
            throw failure("a server is already listening there; stop it or choose another path")
        }
        guard errno == ECONNREFUSED else { throw failure(errnoDescription()) }
        unlink(path)
    }

    /// The longest path a socket address holds, its terminating NUL included.
    static var pathCapacity: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) }

    /// A new unix stream socket, closed on exec; -1 (and `errno`) if none can be made.
    static func streamSocket() -> Int32 {
        #if canImport(Glibc)
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
            socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
    }

    /// The socket address of `path`; `nil` if it is too long or holds a NUL byte.
    static func socketAddress(_ path: String) -> sockaddr_un? {
        let bytes = Array(path.utf8)
        guard bytes.count < pathCapacity, !bytes.contains(0) else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes + [0])
        }
        return address
    }

    private static func identity(of status: stat) -> [Int] {
        [
            Int(truncatingIfNeeded: status.st_dev), Int(truncatingIfNeeded: status.st_ino),
            Int(truncatingIfNeeded: status.st_ctim.tv_sec), Int(truncatingIfNeeded: status.st_ctim.tv_nsec),
        ]
    }
}
