import NIOCore

extension ChannelMessage: Codable {
    private enum TypeKey: String, CodingKey {
        case type
    }

    /// Decodes a message; `accept` and `done` need the channel's service in the decoder's user info (as
    /// ``init(payload:service:)`` puts it there).
    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: TypeKey.self).decode(String.self, forKey: .type)
        switch type {
        case "open": self = .open(try Open(from: decoder))
        case "accept": self = .accept(try Accept(from: decoder))
        case "refuse": self = .refuse(try ProtocolError(from: decoder))
        case "reject": self = .reject(try ProtocolError(from: decoder))
        case "done": self = .done(try Done(from: decoder))
        case "fail": self = .fail(try ProtocolError(from: decoder))
        case "exec.signal": self = .execSignal(try ControlMessage.ExecSignal(from: decoder))
        case "exec.resize": self = .execResize(try TerminalSize(from: decoder))
        case "exec.exit": self = .execExit(try ControlMessage.ExecExit(from: decoder))
        case "file.begin": self = .fileBegin(try ControlMessage.FileBegin(from: decoder))
        case "file.end": self = .fileEnd(try ControlMessage.FileEnd(from: decoder))
        case "file.listing": self = .fileListing(try Listing(from: decoder))
        case "chat.say": self = .chatSay(try ControlMessage.ChatSay(from: decoder))
        case "chat.msg": self = .chatPrivate(try ControlMessage.ChatPrivate(from: decoder))
        case "chat.nick": self = .chatNick(try ControlMessage.ChatNick(from: decoder))
        case "chat.who": self = .chatWho
        case "chat.message": self = .chatMessage(try ControlMessage.ChatMessage(from: decoder))
        case "chat.presence": self = .chatPresence(try ControlMessage.ChatPresence(from: decoder))
        case "chat.members": self = .chatMembers(try ControlMessage.ChatMembers(from: decoder))
        default:
            throw ProtocolError(.badMessage, "unknown channel message type '\(type.prefix(64))'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TypeKey.self)
        try container.encode(type, forKey: .type)
        switch self {
        case .open(let body): try body.encode(to: encoder)
        case .accept(let body): try body.encode(to: encoder)
        case .refuse(let body), .reject(let body), .fail(let body): try body.encode(to: encoder)
        case .done(let body): try body.encode(to: encoder)
        case .execSignal(let body): try body.encode(to: encoder)
        case .execResize(let body): try body.encode(to: encoder)
        case .execExit(let body): try body.encode(to: encoder)
        case .fileBegin(let body): try body.encode(to: encoder)
        case .fileEnd(let body): try body.encode(to: encoder)
        case .fileListing(let body): try body.encode(to: encoder)
        case .chatSay(let body): try body.encode(to: encoder)
        case .chatPrivate(let body): try body.encode(to: encoder)
        case .chatNick(let body): try body.encode(to: encoder)
        case .chatMessage(let body): try body.encode(to: encoder)
        case .chatPresence(let body): try body.encode(to: encoder)
        case .chatMembers(let body): try body.encode(to: encoder)
        case .chatWho: break
        }
    }
}

extension ChannelMessage {
    /// Decodes the message in a control payload on a channel open for `service`; `nil` for a channel that has
    /// none yet (an `open` arriving), where an `accept` or a `done` is `unexpected-message`.
    ///
    /// Whether the message belongs to the service, and may come now, is the connection state machine's to judge.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badMessage`` when the payload is not a JSON object of
    ///   a known type with the members that type needs, an integer is not in integer form or beyond ±(2^53−1), or
    ///   a member is outside its range (``validate()``).
    public init(payload: ByteBuffer, service: ChannelService?) throws(ProtocolError) {
        let userInfo: [CodingUserInfoKey: any Sendable] = service.map { [MessageJSON.serviceKey: $0] } ?? [:]
        self = try MessageJSON.decode(ChannelMessage.self, from: payload, userInfo: userInfo)
        try MessageJSON.checkIntegers(in: payload)
        try validate()
    }

    /// Decodes the message in `frame`, a control frame on a channel from 1 up open for `service`.
    public init(frame: Frame, service: ChannelService?) throws(ProtocolError) {
        guard frame.kind == .control, frame.channel != 0 else {
            throw ProtocolError(.unexpectedMessage, "expected a control frame on a channel from 1 up")
        }
        try self.init(payload: frame.payload, service: service)
    }

    /// This message as a control frame on `channel`.
    public func frame(channel: UInt32) -> Frame {
        Frame(kind: .control, payload: payload, channel: channel)
    }

    /// This message's JSON encoding: compact, `/` unescaped, members sorted by name.
    public var payload: ByteBuffer {
        MessageJSON.encode(self)
    }
}
