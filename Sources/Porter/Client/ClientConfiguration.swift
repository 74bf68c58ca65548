import PorterProtocol

/// How a client connects and authenticates.
public struct ClientConfiguration: Sendable {
    /// What the client proves who it is with: the server's token or a key.
    public var credentials: ClientCredentials
    /// TLS with a way to trust the server, or plaintext. Unix-socket connections are always plaintext.
    public var transport: ClientTransport
    /// Seconds allowed to connect and finish the handshake; a value past ``TimeLimit/maxSeconds`` (or infinite) is
    /// cut to it, and NaN or a negative value allows none.
    public var connectTimeout: Double
    /// The largest frames accepted from the server.
    public var frameLimits: FrameLimits
    /// The agent string sent in `hello`.
    public var agent: String

    /// Creates a configuration that authenticates with the server's token.
    public init(
        token: String,
        transport: ClientTransport,
        connectTimeout: Double = 10,
        frameLimits: FrameLimits = FrameLimits(),
        agent: String = PorterVersion.agent
    ) {
        self.init(
            credentials: .token(token), transport: transport, connectTimeout: connectTimeout,
            frameLimits: frameLimits, agent: agent)
    }

    /// Creates a configuration.
    public init(
        credentials: ClientCredentials,
        transport: ClientTransport,
        connectTimeout: Double = 10,
        frameLimits: FrameLimits = FrameLimits(),
        agent: String = PorterVersion.agent
    ) {
        self.credentials = credentials
        self.transport = transport
        self.connectTimeout = connectTimeout
        self.frameLimits = frameLimits
        self.agent = agent
    }
}
