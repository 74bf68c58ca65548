import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension ControlMessage: Codable {
    private enum TypeKey: String, CodingKey {
        case type
    }

    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: TypeKey.self).decode(String.self, forKey: .type)
        switch type {
        case "hello": self = .hello(try Hello(from: decoder))
        case "welcome": self = .welcome(try Welcome(from: decoder))
        case "auth": self = .auth(try Auth(from: decoder))
        case "ready": self = .ready(try Ready(from: decoder))
        case "ping": self = .ping(try Ping(from: decoder))
        case "pong": self = .pong(try Ping(from: decoder))
        case "keepalive": self = .keepalive
        case "error": self = .error(try ErrorBody(from: decoder))
        case "echo": self = .echo
        case "end": self = .end
        case "chat.join": self = .chatJoin(try ChatJoin(from: decoder))
        case "chat.joined": self = .chatJoined(try ChatJoined(from: decoder))
        case "chat.say": self = .chatSay(try ChatSay(from: decoder))
        case "chat.message": self = .chatMessage(try ChatMessage(from: decoder))
        case "chat.who": self = .chatWho
        case "chat.members": self = .chatMembers(try ChatMembers(from: decoder))
        case "chat.nick": self = .chatNick(try ChatNick(from: decoder))
        case "chat.msg": self = .chatPrivate(try ChatPrivate(from: decoder))
        case "chat.presence": self = .chatPresence(try ChatPresence(from: decoder))
        case "chat.leave": self = .chatLeave
        case "exec": self = .exec(try Exec(from: decoder))
        case "exec.started": self = .execStarted(try ExecStarted(from: decoder))
        case "exec.window": self = .execWindow(try ExecWindow(from: decoder))
        case "exec.eof": self = .execEOF
        case "exec.signal": self = .execSignal(try ExecSignal(from: decoder))
        case "exec.resize": self = .execResize(try Terminal(from: decoder))
        case "exec.exit": self = .execExit(try ExecExit(from: decoder))
        case "file.list": self = .fileList(try FileList(from: decoder))
        case "file.listing": self = .fileListing(try FileListing(from: decoder))
        case "file.get": self = .fileGet(try FileGet(from: decoder))
        case "file.header": self = .fileHeader(try FileHeader(from: decoder))
        case "file.end": self = .fileEnd(try FileEnd(from: decoder))
        case "file.put": self = .filePut(try FilePut(from: decoder))
        case "file.ready": self = .fileReady(try FileReady(from: decoder))
        case "file.begin": self = .fileBegin(try FileBegin(from: decoder))
        case "file.done": self = .fileDone(try FileDone(from: decoder))
        case "file.mkdir": self = .fileMkdir(try FileMkdir(from: decoder))
        case "file.symlink": self = .fileSymlink(try FileSymlink(from: decoder))
        case "file.attrs": self = .fileAttrs(try FileAttributes(from: decoder))
        default:
            throw ProtocolError(.badMessage, "unknown message type '\(type.prefix(64))'")
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
        case .chatJoin(let body): try body.encode(to: encoder)
        case .chatJoined(let body): try body.encode(to: encoder)
        case .chatSay(let body): try body.encode(to: encoder)
        case .chatMessage(let body): try body.encode(to: encoder)
        case .chatMembers(let body): try body.encode(to: encoder)
        case .chatNick(let body): try body.encode(to: encoder)
        case .chatPrivate(let body): try body.encode(to: encoder)
        case .chatPresence(let body): try body.encode(to: encoder)
        case .exec(let body): try body.encode(to: encoder)
        case .execStarted(let body): try body.encode(to: encoder)
        case .execWindow(let body): try body.encode(to: encoder)
        case .execSignal(let body): try body.encode(to: encoder)
        case .execResize(let body): try body.encode(to: encoder)
        case .execExit(let body): try body.encode(to: encoder)
        case .fileList(let body): try body.encode(to: encoder)
        case .fileListing(let body): try body.encode(to: encoder)
        case .fileGet(let body): try body.encode(to: encoder)
        case .fileHeader(let body): try body.encode(to: encoder)
        case .fileEnd(let body): try body.encode(to: encoder)
        case .filePut(let body): try body.encode(to: encoder)
        case .fileReady(let body): try body.encode(to: encoder)
        case .fileBegin(let body): try body.encode(to: encoder)
        case .fileDone(let body): try body.encode(to: encoder)
        case .fileMkdir(let body): try body.encode(to: encoder)
        case .fileSymlink(let body): try body.encode(to: encoder)
        case .fileAttrs(let body): try body.encode(to: encoder)
        case .keepalive, .echo, .end, .chatWho, .chatLeave, .execEOF: break
        }
    }
}

extension ControlMessage {
    /// Decodes the message in a control frame's payload.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badMessage`` when the payload is not a JSON object
    ///   of a known type with the fields that type needs, or a number in it is outside its range (``validate()``).
    public init(payload: ByteBuffer) throws(ProtocolError) {
        self = try MessageJSON.decode(ControlMessage.self, from: payload)
        try validate()
    }

    /// Decodes the message in `frame`, which must be a control frame.
    public init(frame: Frame) throws(ProtocolError) {
        guard frame.kind == .control else {
            throw ProtocolError(.unexpectedMessage, "expected a control frame, got a data frame")
        }
        try self.init(payload: frame.payload)
    }

    /// This message as a control frame.
    public var frame: Frame {
        Frame(kind: .control, payload: payload)
    }

    /// This message's JSON encoding.
    public var payload: ByteBuffer {
        // Every payload type encodes plain strings, numbers, booleans and arrays: encoding cannot fail.
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return ByteBuffer(bytes: data)
    }
}
