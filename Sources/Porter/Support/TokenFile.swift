#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The shared secret that authenticates clients, kept in a file readable only by its owner.
///
/// The server creates the file on first start; clients read it from `--token-file`, else the `PORTER_TOKEN`
/// environment variable, else the same default file, so one user on one machine needs no flag at all.
public enum TokenFile {
    /// The environment variable clients read the token from.
    public static let environmentVariable = "PORTER_TOKEN"

    /// `~/.porter/token`.
    public static var defaultPath: String { PorterDirectory.path + "/token" }

    /// Reads the token at `path`, creating a new random one (mode 0600) if the file does not exist.
    ///
    /// - Returns: the token, and whether it was created now.
    public static func loadOrCreate(at path: String) throws(PorterError) -> (token: String, created: Bool) {
        if access(path, F_OK) == 0 {
            return (try load(at: path), false)
        }
        try PorterDirectory.createParent(of: path)
        let token = Randomness.bytes(32).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw PorterError(.configuration, "cannot create token file \(path): \(errnoDescription())")
        }
        defer { close(fd) }
        let line = token + "\n"
        let written = line.withCString { write(fd, $0, strlen($0)) }
        guard written == line.utf8.count, fsync(fd) == 0 else {
            throw PorterError(.configuration, "cannot write token file \(path): \(errnoDescription())")
        }
        return (token, true)
    }

    /// Reads the token at `path`, refusing a file that others can read.
    public static func load(at path: String) throws(PorterError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw PorterError(
                .configuration,
                "cannot read token file \(path): \(errnoDescription()); start `porter serve` once to create it, or pass --token-file"
            )
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw PorterError(.configuration, "cannot stat token file \(path): \(errnoDescription())")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw PorterError(
                .configuration,
                "token file \(path) is accessible by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)"
            )
        }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &bytes, bytes.count)
        guard count >= 0 else {
            throw PorterError(.configuration, "cannot read token file \(path): \(errnoDescription())")
        }
        let token = String(decoding: bytes[..<count], as: UTF8.self).trimmingWhitespace()
        guard !token.isEmpty else {
            throw PorterError(.configuration, "token file \(path) is empty")
        }
        return token
    }

    /// The token a client uses: from `tokenFile` if given, else `PORTER_TOKEN`, else the default file.
    public static func resolveForClient(
        tokenFile: String?,
        environment: [String: String]
    ) throws(PorterError) -> String {
        if let tokenFile { return try load(at: tokenFile) }
        if let token = environment[environmentVariable]?.trimmingWhitespace(), !token.isEmpty { return token }
        return try load(at: defaultPath)
    }
}

/// Porter's per-user directory, `~/.porter`.
enum PorterDirectory {
    static var path: String {
        if let home = getenv("HOME").map({ String(cString: $0) }), !home.isEmpty { return home + "/.porter" }
        if let entry = getpwuid(getuid()), let dir = entry.pointee.pw_dir { return String(cString: dir) + "/.porter" }
        return ".porter"
    }

    /// Creates the directory holding `path` (mode 0700) if it is missing.
    static func createParent(of path: String) throws(PorterError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let directory = String(path[..<slash])
        if access(directory, F_OK) == 0 { return }
        try createParent(of: directory)
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw PorterError(.configuration, "cannot create directory \(directory): \(errnoDescription())")
        }
    }
}

/// The text for the current `errno`.
func errnoDescription() -> String {
    String(cString: strerror(errno))
}

extension String {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
