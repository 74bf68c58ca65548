import NIOCore

extension ConnectionMessage: Codable {
    private enum TypeKey: String, CodingKey {
        case type
    }

    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: TypeKey.self).decode(String.self, forKey: .type)
        switch type {
        case "hello": self = .hello(try ControlMessage.Hello(from: decoder))
        case "welcome": self = .welcome(try Welcome(from: decoder))
        case "auth": self = .auth(try ControlMessage.Auth(from: decoder))
        case "ready": self = .ready(try ControlMessage.Ready(from: decoder))
        case "ping": self = .ping(try ControlMessage.Ping(from: decoder))
        case "pong": self = .pong(try ControlMessage.Ping(from: decoder))
        case "keepalive": self = .keepalive
        case "error": self = .error(try ControlMessage.ErrorBody(from: decoder))
        case "global": self = .global(try GlobalRequest(from: decoder))
        case "global.ok": self = .globalOK(try GlobalOK(from: decoder))
        case "global.fail": self = .globalFail(try GlobalFail(from: decoder))
        case "shutdown": self = .shutdown(try Shutdown(from: decoder))
        default:
            throw ProtocolError(.badMessage, "unknown connection message type '\(type.prefix(64))'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TypeKey.self)
        try container.encode(type, forKey: .type)
        switch self {
        case .hello(let body): try body.encode(to: encoder)
        case .welcome(let body): try body.encode(to: encoder)
        case .auth(let body): try body.encode(to: encoder)
        case .ready(let body): try body.encode(to: encoder)
        case .ping(let body), .pong(let body): try body.encode(to: encoder)
        case .error(let body): try body.encode(to: encoder)
        case .global(let body): try body.encode(to: encoder)
        case .globalOK(let body): try body.encode(to: encoder)
        case .globalFail(let body): try body.encode(to: encoder)
        case .shutdown(let body): try body.encode(to: encoder)
        case .keepalive: break
        }
    }
}

extension ConnectionMessage {
    /// Decodes the connection message in a control payload.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badMessage`` when the payload is not a JSON object of
    ///   a known type with the members that type needs, an integer is not in integer form or beyond ±(2^53−1), or
    ///   a member is outside its range (``validate()``).
    public init(payload: ByteBuffer) throws(ProtocolError) {
        self = try MessageJSON.decode(ConnectionMessage.self, from: payload)
        try MessageJSON.checkIntegers(in: payload)
        try validate()
    }

    /// Decodes the message in `frame`, which must be a control frame on channel 0.
    public init(frame: Frame) throws(ProtocolError) {
        guard frame.kind == .control, frame.channel == 0 else {
            throw ProtocolError(.unexpectedMessage, "expected a control frame on channel 0")
        }
        try self.init(payload: frame.payload)
    }

    /// This message as a control frame on channel 0.
    public var frame: Frame {
        Frame(kind: .control, payload: payload)
    }

    /// This message's JSON encoding: compact, `/` unescaped, members sorted by name.
    public var payload: ByteBuffer {
        MessageJSON.encode(self)
    }
}
