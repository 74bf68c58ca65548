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

    /// Creates a configuration.
    public init(
        token: String,
        transport: ClientTransport,
        connectTimeout: Double = 10,
        frameLimits: FrameLimits = FrameLimits(),
        agent: String = PorterVersion.agent
    ) {
        self.token = token
        self.transport = transport
        self.connectTimeout = connectTimeout
        self.frameLimits = frameLimits
        self.agent = agent
    }
}
