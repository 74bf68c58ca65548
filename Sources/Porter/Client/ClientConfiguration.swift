import PorterProtocol

/// How a client connects and authenticates.
public struct ClientConfiguration: Sendable {
    /// The shared secret (see ``TokenFile``).
    public var token: String
    /// TLS with a way to trust the server, or plaintext. Unix-socket connections are always plaintext.
    public var transport: ClientTransport
    /// Seconds allowed to connect and finish the handshake; a value past ``TimeLimit/maxSeconds`` (or infinite) is
    /// cut to it, and NaN or a negative value allows none.
    public var connectTimeout: Double
    /// The largest frames accepted from the server.
    public var frameLimits: FrameLimits
    /// The agent string sent in `hello`.
    public var agent: String
    /// The protocol version to offer: 2 (the default), where every operation runs on its own channel and several
    /// run at once on one connection, or 1, one request at a time (docs/PROTOCOL.md).
    public var version: Int

    /// Creates a configuration.
    public init(
        token: String,
        transport: ClientTransport,
        connectTimeout: Double = 10,
        frameLimits: FrameLimits = FrameLimits(),
        agent: String = PorterVersion.agent,
        version: Int = 2
    ) {
        self.token = token
        self.transport = transport
        self.connectTimeout = connectTimeout
        self.frameLimits = frameLimits
        self.agent = agent
        self.version = version
    }
}
