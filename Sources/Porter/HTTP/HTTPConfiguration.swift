/// The HTTP endpoint of `porter serve --http`: a status page, `/healthz` and `/metrics`, with every limit a
/// client can reach set here.
public struct HTTPConfiguration: Sendable {
    /// Where to listen: the host and port of a TCP endpoint.
    public var listen: Endpoint
    /// Bytes of request headers accepted (request line included); more is answered `431` and closed.
    public var maxHeaderBytes: Int
    /// Header fields accepted.
    public var maxHeaderFields: Int
    /// Bytes of request body accepted (the endpoint only serves GET and HEAD); more is answered `413` and closed.
    public var maxBodyBytes: Int
    /// Connections served at once; more are closed at once.
    public var maxConnections: Int
    /// Of those, connections from one IP address; more from it are closed at once, so that one address cannot
    /// hold every slot and a monitor elsewhere still reaches `/healthz`.
    public var maxConnectionsPerSource: Int
    /// Seconds a client has to send each whole request head, counted from the start of the connection or the end
    /// of the previous response, however the bytes arrive (a trickle does not extend it); then it is closed.
    public var requestHeadTimeout: Double
    /// Seconds a connection may pass with nothing read or written before it is closed (0: never).
    public var idleTimeout: Double

    /// The default of ``requestHeadTimeout``, in seconds, which the classic http listener shares.
    public static let defaultRequestHeadTimeout: Double = 10

    /// Creates a configuration with the defaults.
    public init(
        listen: Endpoint, maxHeaderBytes: Int = 16 * 1024, maxHeaderFields: Int = 64, maxBodyBytes: Int = 1024,
        maxConnections: Int = 64,
        maxConnectionsPerSource: Int = ClassicConfiguration.defaultMaxConnectionsPerSource,
        requestHeadTimeout: Double = HTTPConfiguration.defaultRequestHeadTimeout,
        idleTimeout: Double = 30
    ) {
        self.listen = listen
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderFields = maxHeaderFields
        self.maxBodyBytes = maxBodyBytes
        self.maxConnections = maxConnections
        self.maxConnectionsPerSource = maxConnectionsPerSource
        self.requestHeadTimeout = requestHeadTimeout
        self.idleTimeout = idleTimeout
    }

    /// The connection limits of the listener.
    var limits: ConnectionLimits {
        ConnectionLimits(
            maxConnections: maxConnections, maxConnectionsPerSource: maxConnectionsPerSource, idleTimeout: idleTimeout)
    }
}
