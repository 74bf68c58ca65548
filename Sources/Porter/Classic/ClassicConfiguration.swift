/// The classic listeners of `porter serve --classic`: the course programs' own wire formats, unauthenticated,
/// each on its own port, each served by the same services as the native protocol.
public struct ClassicConfiguration: Sendable {
    /// The address every classic listener binds.
    public var host: String
    /// Upper-case echo over TCP.
    public var echoPort: Int
    /// Shell commands with a length-prefixed reply.
    public var execPort: Int
    /// `get NAME` file downloads with an MD5 check.
    public var ftpPort: Int
    /// Upper-case echo over UDP.
    public var udpPort: Int
    /// `Hello, World` over HTTP/1.x.
    public var httpPort: Int
    /// Raw-text chat in the room `lobby`.
    public var chatPort: Int
    /// Whether the exec and ftp listeners may bind a non-loopback address (`--classic-insecure`).
    public var insecure: Bool
    /// Connections one classic TCP listener serves at once; more are closed at once.
    public var maxConnections: Int
    /// Of those, connections from one IP address; more from it are closed at once, so that one address cannot
    /// lock a listener.
    public var maxConnectionsPerSource: Int
    /// Seconds a classic TCP connection may pass with nothing read from the client and nothing delivered to it
    /// before it is closed (0: never); a classic exec command being run does not count as idle.
    public var idleTimeout: Double
    /// Seconds a classic http client has to send each whole request head, counted from the start of the
    /// connection or the end of the previous response, however the bytes arrive.
    public var requestHeadTimeout: Double
    /// Seconds a classic exec command may run before it is killed.
    public var execTimeout: Double
    /// Bytes of output (standard output and error together) a classic exec reply may carry; a command that
    /// writes more is killed and its first bytes are sent.
    public var maxExecOutput: Int
    /// Bytes of classic exec output held at once across all connections, from when a command writes them until
    /// its reply has been sent. A command whose output finds the total spent is killed and the bytes it got are
    /// sent, as when it passes ``maxExecOutput``.
    public var maxExecOutputTotal: Int
    /// Bytes of headers an HTTP request may have, and bytes of body the HTTP listener reads and discards.
    public var maxHTTPHeaders: Int

    /// The default of ``maxConnectionsPerSource``, which the HTTP endpoint shares.
    public static let defaultMaxConnectionsPerSource = 16
    /// The default of ``idleTimeout``, in seconds.
    public static let defaultIdleTimeout: Double = 300

    /// The course's ports, on loopback.
    public init(
        host: String = "127.0.0.1", echoPort: Int = 7071, execPort: Int = 7072, ftpPort: Int = 7073,
        udpPort: Int = 7074, httpPort: Int = 7075, chatPort: Int = 7076, insecure: Bool = false,
        maxConnections: Int = 256,
        maxConnectionsPerSource: Int = ClassicConfiguration.defaultMaxConnectionsPerSource,
        idleTimeout: Double = ClassicConfiguration.defaultIdleTimeout,
        requestHeadTimeout: Double = HTTPConfiguration.defaultRequestHeadTimeout, execTimeout: Double = 60,
        maxExecOutput: Int = 64 << 20,
        maxExecOutputTotal: Int = 256 << 20, maxHTTPHeaders: Int = 16 << 10
    ) {
        self.host = host
        self.echoPort = echoPort
        self.execPort = execPort
        self.ftpPort = ftpPort
        self.udpPort = udpPort
        self.httpPort = httpPort
        self.chatPort = chatPort
        self.insecure = insecure
        self.maxConnections = maxConnections
        self.maxConnectionsPerSource = maxConnectionsPerSource
        self.idleTimeout = idleTimeout
        self.requestHeadTimeout = requestHeadTimeout
        self.execTimeout = execTimeout
        self.maxExecOutput = maxExecOutput
        self.maxExecOutputTotal = maxExecOutputTotal
        self.maxHTTPHeaders = maxHTTPHeaders
    }

    /// The connection limits of each classic TCP listener.
    var limits: ConnectionLimits {
        ConnectionLimits(
            maxConnections: maxConnections, maxConnectionsPerSource: maxConnectionsPerSource, idleTimeout: idleTimeout)
    }

    /// Every port at 0, for tests: the system picks free ones.
    public static func anyPorts(host: String = "127.0.0.1") -> ClassicConfiguration {
        ClassicConfiguration(
            host: host, echoPort: 0, execPort: 0, ftpPort: 0, udpPort: 0, httpPort: 0, chatPort: 0)
    }
}
