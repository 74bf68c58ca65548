#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small local files read whole (known hosts, configuration, secrets), with errors a person can act on.
enum LocalFile {
    /// Reads the file at `path`, or returns nil if nothing is there; `what` names it in errors ("known hosts
    /// file"), and a file larger than `limit` bytes is refused rather than read.
    static func readIfPresent(_ path: String, what: String, limit: Int) throws(PorterError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw PorterError(.configuration, "cannot read \(what) \(path): \(errnoDescription())")
        }
        defer { close(fd) }
        return try readAll(fd, path: path, what: what, limit: limit)
    }

    /// Reads what is left of the open file `fd`, at most `limit` bytes.
    static func readAll(_ fd: Int32, path: String, what: String, limit: Int) throws(PorterError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else {
                throw PorterError(.configuration, "cannot read \(what) \(path): \(errnoDescription())")
            }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
            guard bytes.count <= limit else {
                throw PorterError(.configuration, "\(what) \(path) is larger than \(limit) bytes")
            }
        }
    }
}
