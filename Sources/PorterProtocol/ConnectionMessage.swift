#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A connection message: the JSON payload of a control frame on channel 0 (docs/PROTOCOL.md sections 3 and 4).
///
/// `hello` and `welcome` (or an `error` instead of `welcome`) travel in the handshake form, everything after them
/// in the channel form. The payload types shared with channel messages are ``ControlMessage``'s.
///
/// ```
/// {"type":"global","id":3,"name":"file.mkdir","path":"photos"}
/// ```
public enum ConnectionMessage: Sendable, Equatable {
    /// The protocol version these messages belong to.
    public static let version = 2

    /// Client → server, first message: the versions the client speaks, its nonce and, optionally, its limits.
    case hello(ControlMessage.Hello)
    /// Server → client, answer to `hello`: the chosen version, the server's nonce and every limit.
    case welcome(Welcome)
    /// Client → server: proof that the client holds the token.
    case auth(ControlMessage.Auth)
    /// Server → client: authentication succeeded; carries the server's own proof.
    case ready(ControlMessage.Ready)
    /// Either direction: asks for a `pong` with the same id.
    case ping(ControlMessage.Ping)
    /// Either direction: answer to `ping`.
    case pong(ControlMessage.Ping)
    /// Either direction: keeps the connection from idling out; no answer.
    case keepalive
    /// Either direction: a fatal error; the connection ends.
    case error(ControlMessage.ErrorBody)
    /// Client → server: a request that belongs to no channel.
    case global(GlobalRequest)
    /// Server → client: a global request succeeded.
    case globalOK(GlobalOK)
    /// Server → client: a global request failed.
    case globalFail(GlobalFail)
    /// Server → client: the server is stopping; channels may finish within the grace period.
    case shutdown(Shutdown)

    /// The `"type"` member that names this message on the wire.
    public var type: String {
        switch self {
        case .hello: "hello"
        case .welcome: "welcome"
        case .auth: "auth"
        case .ready: "ready"
        case .ping: "ping"
        case .pong: "pong"
        case .keepalive: "keepalive"
        case .error: "error"
        case .global: "global"
        case .globalOK: "global.ok"
        case .globalFail: "global.fail"
        case .shutdown: "shutdown"
        }
    }
}

// MARK: - Payloads

extension ConnectionMessage {
    /// Payload of `welcome`, the server's answer to `hello`.
    public struct Welcome: Codable, Sendable, Equatable {
        /// The version both sides speak from now on.
        public var version: Int
        /// The server software, e.g. `porter/0.1.0`.
        public var agent: String
        /// The server's name (Porter's: its host name).
        public var server: String
        /// ``ControlMessage/nonceLength`` random bytes.
        public var nonce: ControlMessage.Bytes
        /// Authentication methods the server accepts, e.g. `["hmac-sha256"]`.
        public var auth: [String]
        /// Every limit of the server, which the client must respect.
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

    /// The server's limits in `welcome`: one JSON object holding the members of ``FrameLimits``, `idleTimeout` and
    /// the members of ``ChannelLimits``.
    public struct Limits: Codable, Sendable, Equatable {
        /// The server's idle timeout when it announces none: 300 seconds.
        public static let defaultIdleTimeout: Double = 300

        /// The largest payloads the server accepts.
        public var frames: FrameLimits
        /// Seconds without a frame from the client after which the server closes the connection, exactly as
        /// configured (a fraction is kept); 0 for never.
        public var idleTimeout: Double
        /// The channel limits.
        public var channels: ChannelLimits

        private enum CodingKeys: String, CodingKey {
            case idleTimeout
        }

        /// Creates the payload; the defaults are those of docs/PROTOCOL.md section 4.2.
        public init(
            frames: FrameLimits = FrameLimits(), idleTimeout: Double = Limits.defaultIdleTimeout,
            channels: ChannelLimits = ChannelLimits()
        ) {
            self.frames = frames
            self.idleTimeout = idleTimeout
            self.channels = channels
        }

        public init(from decoder: any Decoder) throws {
            self.frames = try FrameLimits(from: decoder)
            self.idleTimeout = try decoder.container(keyedBy: CodingKeys.self).decode(Double.self, forKey: .idleTimeout)
            self.channels = try ChannelLimits(from: decoder)
        }

        public func encode(to encoder: any Encoder) throws {
            try frames.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(idleTimeout, forKey: .idleTimeout)
            try channels.encode(to: encoder)
        }
    }

    /// Payload of `shutdown`.
    public struct Shutdown: Codable, Sendable, Equatable {
        /// Seconds the server gives open channels before it closes the connection.
        public var grace: Double
        /// Creates the payload.
        public init(grace: Double) { self.grace = grace }
    }
}
