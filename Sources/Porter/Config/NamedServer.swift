import PorterProtocol

/// A server named in the client configuration file: a `host NAME` block and what it says.
///
/// Every field but the endpoint is optional; an option given on the command line wins over the file's value.
public struct NamedServer: Sendable, Equatable {
    /// The name given to client commands in place of an endpoint (`porter exec web1 -- uptime`).
    public var name: String
    /// Where the server listens (`endpoint`).
    public var endpoint: Endpoint
    /// The identity the server must present (`fingerprint`), as `--fingerprint` pins it.
    public var fingerprint: Fingerprint?
    /// The token file (`token-file`), with `~` expanded and made absolute against the configuration file's
    /// directory.
    public var tokenFile: String?
    /// The private key file (`key`), expanded as `token-file` is; a client uses it as `--key` (and then not the
    /// token).
    public var keyFile: String?
    /// Seconds allowed to connect and authenticate (`connect-timeout`), as `--connect-timeout`.
    public var connectTimeout: Double?
    /// Whether to connect without TLS (`plaintext`), to a server started with `--plaintext`.
    public var plaintext: Bool
    /// The line of the `host` keyword, for messages.
    public var line: Int

    /// Creates a named server.
    public init(
        name: String, endpoint: Endpoint, fingerprint: Fingerprint? = nil, tokenFile: String? = nil,
        connectTimeout: Double? = nil, plaintext: Bool = false, line: Int = 0
    ) {
        self.name = name
        self.endpoint = endpoint
        self.fingerprint = fingerprint
        self.tokenFile = tokenFile
        self.connectTimeout = connectTimeout
        self.plaintext = plaintext
        self.line = line
    }
}
