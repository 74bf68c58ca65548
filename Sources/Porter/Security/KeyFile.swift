import PorterProtocol

/// Private key files: `porter keygen`'s pair and the keys a client reads with `--key`.
///
/// A private key file is in OpenSSH's format (`-----BEGIN OPENSSH PRIVATE KEY-----`, unencrypted), so that Porter's
/// keys work with ssh-keygen and ssh-agent and OpenSSH's keys work with Porter; the public key beside it
/// (`FILE.pub`) is one line in OpenSSH's format, ready for an authorized keys file.
public enum KeyFile {
    /// `~/.porter/id_ed25519`.
    public static var defaultPath: String { PorterDirectory.path + "/id_ed25519" }

    /// Reads the private key at `path`, refusing a file that others can read (as ssh does).
    ///
    /// - Throws: ``PorterError`` of kind ``PorterError/Kind/configuration``: the file cannot be read, is not a key,
    ///   or is protected by a passphrase (then load it into ssh-agent instead).
    public static func load(at path: String) throws(PorterError) -> SSHPrivateKey {
        let bytes = try PrivateFile.load(path, what: "key file")
        do {
            return try SSHPrivateKey(openSSH: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw PorterError(.configuration, "key file \(path): \(error.description)")
        }
    }

    /// Writes a new key pair: the private key at `path` (mode 0600) and the public key at `path.pub` (mode 0644).
    /// Neither file may exist yet.
    ///
    /// - Returns: the public key's line, as written to `path.pub`.
    public static func create(_ key: SSHPrivateKey, at path: String) throws(PorterError) -> String {
        let publicPath = path + ".pub"
        guard !PrivateFile.exists(path), !PrivateFile.exists(publicPath) else {
            throw PorterError(
                .configuration,
                "\(PrivateFile.exists(path) ? path : publicPath) already exists; remove it or choose another --file")
        }
        let line = key.publicKey.openSSHLine(comment: key.comment)
        try PrivateFile.create(path, contents: key.openSSHText(), what: "key file")
        try PrivateFile.create(publicPath, contents: line + "\n", what: "public key file", mode: 0o644)
        return line
    }
}
