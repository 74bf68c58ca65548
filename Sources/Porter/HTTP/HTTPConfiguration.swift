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
    /// Seconds a connection may stay silent before it is closed.
    public var idleTimeout: Double

    /// Creates a configuration with the defaults.
    public init(
        listen: Endpoint, maxHeaderBytes: Int = 16 * 1024, maxHeaderFields: Int = 64, maxBodyBytes: Int = 1024,
        maxConnections: Int = 64, idleTimeout: Double = 30
    ) {
        self.listen = listen
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderFields = maxHeaderFields
        self.maxBodyBytes = maxBodyBytes
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
    }
}
