/// Payload of `welcome`, the server's answer to `hello`, in every version: only the limits differ (version 1's
/// ``ControlMessage/Limits``, version 2's ``ConnectionMessage/Limits``).
public struct WelcomeMessage<Limits: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    /// The version both sides speak from now on.
    public var version: Int
    /// The server software, e.g. `porter/0.1.0`.
    public var agent: String
    /// The server's host name.
    public var server: String
    /// ``ControlMessage/nonceLength`` random bytes.
    public var nonce: ControlMessage.Bytes
    /// Authentication methods the server accepts, e.g. `["hmac-sha256"]`.
    public var auth: [String]
    /// Limits the client must respect.
    public var limits: Limits
    /// Creates the payload.
    public init(
        version: Int, agent: String, server: String, nonce: ControlMessage.Bytes, auth: [String], limits: Limits
    ) {
        self.version = version
        self.agent = agent
        self.server = server
        self.nonce = nonce
        self.auth = auth
        self.limits = limits
    }
}
