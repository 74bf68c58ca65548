import PorterProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Everything a ``PorterServer`` needs to know, with defaults for every limit a peer can reach.
public struct ServerConfiguration: Sendable {
    /// The default listen address, `127.0.0.1:7070`: loopback only until asked otherwise.
    public static let defaultListen = Endpoint.tcp(host: "127.0.0.1", port: Endpoint.defaultPort)
    /// The default of ``shutdownGrace``, `--shutdown-grace`.
    public static let defaultShutdownGrace: Double = 30
    /// The longest ``shutdownGrace``: a year (``TimeLimit/maxSeconds``), the most `shutdown` may announce. A
    /// longer one is taken as this, a negative one or `nan` as 0.
    public static let maxShutdownGrace: Double = TimeLimit.maxSeconds

    /// Where to listen; one listener per endpoint.
    public var listen: [Endpoint]
    /// The shared secret clients must prove they hold.
    public var token: String
    /// Whether a client may authenticate with the token (`serve --no-token` turns it off; keys are then the only
    /// way in).
    public var acceptsToken: Bool = true
    /// The authorized keys file (`serve --authorized-keys`) whose keys may authenticate, with each line's
    /// options; `nil` for none. Read again when it changes (``AuthorizedKeysFile``).
    public var authorizedKeys: String?
    /// The audit log (`serve --audit-log`): a line per authentication attempt and per operation, appended to
    /// this file (docs/AUDIT.md); `nil` for none.
    public var auditLog: String?
    /// Where pseudo-terminal sessions are recorded as asciicast v2 files (`serve --record`); `nil` for nowhere.
    public var recordings: String?
    /// TLS with the server's identity (the default for `porter serve`), or plaintext. Unix sockets are always
    /// plaintext.
    public var transport: ServerTransport
    /// The host name announced in `welcome`.
    public var serverName: String
    /// The largest frames accepted from clients.
    public var frameLimits: FrameLimits
    /// Connections served at once; one more is answered `server-busy` and closed.
    public var maxConnections: Int
    /// Connections accepted but not yet authenticated, in total; more are answered `server-busy` and closed.
    public var maxUnauthenticated: Int
    /// Connections from one address accepted but not yet authenticated; more from it are refused the same way.
    public var maxUnauthenticatedPerSource: Int
    /// Seconds a connection may take from accept to a successful `auth`, TLS handshake included.
    public var authTimeout: Double
    /// Seconds without a frame from the client after which the connection is closed; 0 disables it.
    public var idleTimeout: Double
    /// Seconds a graceful shutdown gives connections to finish the channels they have in use (chat memberships end
    /// at once; ``maxShutdownGrace`` at most); 0 closes every connection at once.
    public var shutdownGrace: Double
    /// The channel limits announced in `welcome`: channels per connection, the window each channel is granted,
    /// unanswered global requests.
    public var channelLimits: ChannelLimits
    /// The listen backlog: connections the kernel queues before Porter accepts them.
    public var backlog: Int32
    /// Seconds between the server's offers to give memory freed by finished requests back to the system
    /// (`malloc_trim`), made only if a request ended since the last one; `nil` never. Without it, the C
    /// allocator keeps the peak of a burst of load resident after the load has gone.
    public var memoryReturnInterval: Double?
    /// The chat service's limits.
    public var chat: ChatService.Configuration
    /// Where to answer UDP echo datagrams (`porter serve --udp`), if anywhere; the host and port of a TCP
    /// endpoint.
    public var udp: Endpoint?
    /// The HTTP endpoint (`porter serve --http`): status page, `/healthz`, `/metrics`; `nil` for none.
    public var http: HTTPConfiguration?
    /// The classic listeners (`porter serve --classic`), if wanted.
    public var classic: ClassicConfiguration?
    /// The directory that file paths are confined to and commands start in (see ``FileService``).
    public var root: String
    /// File transfer limits.
    public var files: FileConfiguration
    /// Command execution: accepted environment variables, windows and grace periods.
    public var exec: ExecConfiguration
    /// TCP forwarding (`porter forward`): off unless allowed, and to which targets.
    public var forward: ForwardConfiguration

    /// Creates a configuration.
    public init(
        listen: [Endpoint] = [ServerConfiguration.defaultListen],
        token: String,
        transport: ServerTransport,
        serverName: String = "porter",
        frameLimits: FrameLimits = FrameLimits(),
        maxConnections: Int = 1024,
        maxUnauthenticated: Int = 256,
        maxUnauthenticatedPerSource: Int = 64,
        authTimeout: Double = 10,
        idleTimeout: Double = 300,
        shutdownGrace: Double = ServerConfiguration.defaultShutdownGrace,
        channelLimits: ChannelLimits = ChannelLimits(),
        backlog: Int32 = 4096,
        memoryReturnInterval: Double? = 10,
        chat: ChatService.Configuration = ChatService.Configuration(),
        udp: Endpoint? = nil,
        http: HTTPConfiguration? = nil,
        classic: ClassicConfiguration? = nil,
        root: String = FileManager.default.currentDirectoryPath,
        files: FileConfiguration = FileConfiguration(),
        exec: ExecConfiguration = ExecConfiguration(),
        forward: ForwardConfiguration = ForwardConfiguration()
    ) {
        self.forward = forward
        self.udp = udp
        self.http = http
        self.classic = classic
        self.root = root
        self.files = files
        self.listen = listen
        self.token = token
        self.transport = transport
        self.serverName = serverName
        self.frameLimits = frameLimits
        self.maxConnections = maxConnections
        self.maxUnauthenticated = maxUnauthenticated
        self.maxUnauthenticatedPerSource = maxUnauthenticatedPerSource
        self.authTimeout = authTimeout
        self.idleTimeout = idleTimeout
        self.shutdownGrace = shutdownGrace.isNaN ? 0 : min(max(shutdownGrace, 0), Self.maxShutdownGrace)
        self.channelLimits = channelLimits
        self.backlog = backlog
        self.memoryReturnInterval = memoryReturnInterval
        self.chat = chat
        self.exec = exec
    }
}
