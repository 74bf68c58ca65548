#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Files only their owner may read: the token and the server's identity key.
///
/// Reading refuses a file that other users can access, as ssh does for private keys; creating never replaces
/// an existing file and gives it mode 0600 from the first byte.
enum PrivateFile {
    /// The largest private file Porter reads.
    static let maximumSize = 64 * 1024

    /// Whether something exists at `path`.
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Reads the file at `path`; `what` names it in errors ("token file", "identity file").
    static func load(_ path: String, what: String, hint: String = "") throws(PorterError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw PorterError(.configuration, "cannot read \(what) \(path): \(errnoDescription())\(hint)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw PorterError(.configuration, "cannot stat \(what) \(path): \(errnoDescription())")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw PorterError(
                .configuration,
                "\(what) \(path) is accessible by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)"
            )
        }
        return try LocalFile.readAll(fd, path: path, what: what, limit: maximumSize)
    }

    /// Creates `path` with `mode` (0600 unless said) and writes `contents`, creating missing directories (mode
    /// 0700).
    ///
    /// Fails if the file already exists, so two servers starting at once cannot overwrite each other's secret.
    static func create(_ path: String, contents: String, what: String, mode: mode_t = 0o600) throws(PorterError) {
        try PorterDirectory.createParent(of: path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw PorterError(.configuration, "cannot create \(what) \(path): \(errnoDescription())")
        }
        defer { close(fd) }
        let bytes = Array(contents.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else {
                throw PorterError(.configuration, "cannot write \(what) \(path): \(errnoDescription())")
            }
            offset += written
        }
        guard fsync(fd) == 0 else {
            throw PorterError(.configuration, "cannot write \(what) \(path): \(errnoDescription())")
        }
    }
}
