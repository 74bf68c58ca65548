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
        if PrivateFile.exists(path) {
            return (try load(at: path), false)
        }
        let token = Randomness.bytes(32).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
        try PrivateFile.create(path, contents: token + "\n", what: "token file")
        return (token, true)
    }

    /// The fewest bytes a strong token has: a created one has 64.
    public static let minimumStrongLength = 16
    /// The fewest different bytes a strong token has: "aaaaaaaaaaaaaaaa" or "1212121212121212" is long enough and
    /// still guessed at once.
    public static let minimumStrongVariety = 8
    /// How to make a strong token by hand.
    public static let strongTokenRecipe = "head -c 32 /dev/urandom | base64"

    /// Why `token` is weak, or `nil` if it is strong enough: shorter than ``minimumStrongLength`` bytes, or made of
    /// fewer than ``minimumStrongVariety`` different bytes.
    public static func weakness(of token: String) -> String? {
        let bytes = Array(token.utf8)
        if bytes.count < minimumStrongLength {
            return "it has \(bytes.count) bytes, fewer than \(minimumStrongLength)"
        }
        if Set(bytes).count < minimumStrongVariety {
            return "it uses only \(Set(bytes).count) different characters"
        }
        return nil
    }

    /// Reads the token at `path`, refusing a file that others can read.
    public static func load(at path: String) throws(PorterError) -> String {
        let bytes = try PrivateFile.load(
            path, what: "token file",
            hint: "; start `porter serve` once to create it, or pass --token-file")
        let token = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
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
        home.map { $0 + "/.porter" } ?? ".porter"
    }

    /// The user's home directory: `$HOME`, else the password database's, else `nil`.
    static var home: String? {
        if let home = getenv("HOME").map({ String(cString: $0) }), !home.isEmpty { return home }
        if let entry = getpwuid(getuid()), let dir = entry.pointee.pw_dir { return String(cString: dir) }
        return nil
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
