import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A control message: the JSON payload of a control frame.
///
/// On the wire each message is one JSON object whose `"type"` member names the message; its other members
/// are the fields of the payload type. Unknown members are ignored, so fields can be added in later versions.
///
/// ```
/// {"type":"chat.say","text":"hello"}
/// ```
public enum ControlMessage: Sendable, Equatable {
    /// Client → server, first message: the protocol versions the client speaks and its nonce.
    case hello(Hello)
    /// Server → client, answer to `hello`: the chosen version, the server's nonce and limits.
    case welcome(Welcome)
    /// Client → server: proof that the client holds the token.
    case auth(Auth)
    /// Server → client: authentication succeeded; carries the server's own proof.
    case ready(Ready)
    /// Client → server: asks for a `pong` with the same id.
    case ping(Ping)
    /// Server → client: answer to `ping`.
    case pong(Ping)
    /// Client → server: resets the idle timeout; no answer.
    case keepalive
    /// Either direction: something went wrong. Unless `fatal` is false the sender closes the connection.
    case error(ErrorBody)
    /// Client → server: starts echo mode; each data frame on stream 0 comes back with ASCII letters upper-cased.
    case echo
    /// Client → server: ends the current operation. Server → client: the operation has ended.
    case end
    /// Client → server: join a chat room under a name.
    case chatJoin(ChatJoin)
    /// Server → client: joined; lists the members, the new one included.
    case chatJoined(ChatJoined)
    /// Client → server: say something to the room.
    case chatSay(ChatSay)
    /// Server → client: someone said something, to the room or privately.
    case chatMessage(ChatMessage)
    /// Client → server: ask who is in the room.
    case chatWho
    /// Server → client: the members of the room.
    case chatMembers(ChatMembers)
    /// Client → server: change name in the room.
    case chatNick(ChatNick)
    /// Client → server: a private message to one member.
    case chatPrivate(ChatPrivate)
    /// Server → client: someone joined, left or changed name.
    case chatPresence(ChatPresence)
    /// Client → server: leave the room; the server answers `end`.
    case chatLeave
    /// Client → server: run a command; the server answers `exec.started` or a non-fatal `error`.
    case exec(Exec)
    /// Server → client: the command runs; standard input may be sent within the window.
    case execStarted(ExecStarted)
    /// Server → client: the standard-input window grows.
    case execWindow(ExecWindow)
    /// Client → server: standard input has ended.
    case execEOF
    /// Client → server: deliver a signal to the command.
    case execSignal(ExecSignal)
    /// Client → server: the terminal's size changed.
    case execResize(Terminal)
    /// Server → client: the command has ended; the connection is back in the request state.
    case execExit(ExecExit)
    /// Client → server: list a path; the server answers one or more `file.listing`.
    case fileList(FileList)
    /// Server → client: (part of) a listing.
    case fileListing(FileListing)
    /// Client → server: send a file.
    case fileGet(FileGet)
    /// Server → client: a file's size and attributes; its data follows.
    case fileHeader(FileHeader)
    /// Either direction: a file's data is complete; carries its digest.
    case fileEnd(FileEnd)
    /// Client → server: receive a file.
    case filePut(FilePut)
    /// Server → client: ready to receive, possibly resuming.
    case fileReady(FileReady)
    /// Client → server: the file's data follows from this offset.
    case fileBegin(FileBegin)
    /// Server → client: a put, mkdir, symlink or attrs request succeeded.
    case fileDone(FileDone)
    /// Client → server: create a directory.
    case fileMkdir(FileMkdir)
    /// Client → server: create a symlink.
    case fileSymlink(FileSymlink)
    /// Client → server: set mode and modification time.
    case fileAttrs(FileAttributes)

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
        case .echo: "echo"
        case .end: "end"
        case .chatJoin: "chat.join"
        case .chatJoined: "chat.joined"
        case .chatSay: "chat.say"
        case .chatMessage: "chat.message"
        case .chatWho: "chat.who"
        case .chatMembers: "chat.members"
        case .chatNick: "chat.nick"
        case .chatPrivate: "chat.msg"
        case .chatPresence: "chat.presence"
        case .chatLeave: "chat.leave"
        case .exec: "exec"
        case .execStarted: "exec.started"
        case .execWindow: "exec.window"
        case .execEOF: "exec.eof"
        case .execSignal: "exec.signal"
        case .execResize: "exec.resize"
        case .execExit: "exec.exit"
        case .fileList: "file.list"
        case .fileListing: "file.listing"
        case .fileGet: "file.get"
        case .fileHeader: "file.header"
        case .fileEnd: "file.end"
        case .filePut: "file.put"
        case .fileReady: "file.ready"
        case .fileBegin: "file.begin"
        case .fileDone: "file.done"
        case .fileMkdir: "file.mkdir"
        case .fileSymlink: "file.symlink"
        case .fileAttrs: "file.attrs"
        }
    }
}

// MARK: - Payloads

extension ControlMessage {
    /// The protocol versions this implementation speaks.
    public static let supportedVersions: [Int] = [ConnectionMessage.version]
    /// The length of a handshake nonce in bytes.
    public static let nonceLength = 32

    /// Payload of `hello`.
    public struct Hello: Codable, Sendable, Equatable {
        /// Protocol versions the client speaks.
        public var versions: [Int]
        /// The client software, e.g. `porter/0.1.0`.
        public var agent: String
        /// ``ControlMessage/nonceLength`` random bytes.
        public var nonce: Bytes
        /// Version 2: the largest payloads the client accepts; absent, the defaults of ``FrameLimits``. A version 1
        /// server ignores it.
        public var limits: FrameLimits?
        /// Creates the payload.
        public init(versions: [Int], agent: String, nonce: Bytes, limits: FrameLimits? = nil) {
            self.versions = versions
            self.agent = agent
            self.nonce = nonce
            self.limits = limits
        }
    }

    /// Payload of `welcome`, with version 1's ``Limits``.
    public typealias Welcome = WelcomeMessage<Limits>

    /// The server's limits, announced in `welcome`.
    public struct Limits: Codable, Sendable, Equatable {
        /// Largest control payload the server accepts, in bytes.
        public var maxControlPayload: Int
        /// Largest data payload the server accepts, in bytes.
        public var maxDataPayload: Int
        /// Seconds of client silence after which the server closes the connection; 0 for never.
        public var idleTimeout: Int
        /// Creates the payload.
        public init(maxControlPayload: Int, maxDataPayload: Int, idleTimeout: Int) {
            self.maxControlPayload = maxControlPayload
            self.maxDataPayload = maxDataPayload
            self.idleTimeout = idleTimeout
        }
    }

    /// Payload of `auth`.
    public struct Auth: Codable, Sendable, Equatable {
        /// The method, one of those the server offered in `welcome`.
        public var method: String
        /// The client's proof (see ``AuthProof``).
        public var proof: Bytes
        /// Creates the payload.
        public init(method: String, proof: Bytes) {
            self.method = method
            self.proof = proof
        }
    }

    /// Payload of `ready`.
    public struct Ready: Codable, Sendable, Equatable {
        /// The server's proof (see ``AuthProof``), so the client knows the server holds the token too.
        public var proof: Bytes
        /// Creates the payload.
        public init(proof: Bytes) { self.proof = proof }
    }

    /// Payload of `ping` and `pong`.
    public struct Ping: Codable, Sendable, Equatable {
        /// An id the client chooses; the `pong` repeats it.
        public var id: UInt64
        /// Creates the payload.
        public init(id: UInt64) { self.id = id }
    }

    /// Payload of `error`.
    public struct ErrorBody: Codable, Sendable, Equatable {
        /// The stable code.
        public var code: ProtocolError.Code
        /// A one-line explanation for a person.
        public var message: String
        /// Whether the sender closes the connection after this message.
        public var fatal: Bool
        /// Creates the payload.
        public init(code: ProtocolError.Code, message: String, fatal: Bool) {
            self.code = code
            self.message = message
            self.fatal = fatal
        }
        /// The payload describing `error`.
        public init(_ error: ProtocolError, fatal: Bool) {
            self.init(code: error.code, message: error.message, fatal: fatal)
        }
        /// This payload as an error value.
        public var protocolError: ProtocolError { ProtocolError(code, message) }
    }

    /// Payload of `chat.join`.
    public struct ChatJoin: Codable, Sendable, Equatable {
        /// The room to join; created if it does not exist.
        public var room: String
        /// The name to use in the room.
        public var name: String
        /// Creates the payload.
        public init(room: String, name: String) {
            self.room = room
            self.name = name
        }
    }

    /// Payload of `chat.joined`.
    public struct ChatJoined: Codable, Sendable, Equatable {
        /// The room joined.
        public var room: String
        /// The name the client has in the room.
        public var name: String
        /// Everyone in the room, the client included, sorted.
        public var members: [String]
        /// Creates the payload.
        public init(room: String, name: String, members: [String]) {
            self.room = room
            self.name = name
            self.members = members
        }
    }

    /// Payload of `chat.say`.
    public struct ChatSay: Codable, Sendable, Equatable {
        /// What to say.
        public var text: String
        /// Creates the payload.
        public init(text: String) { self.text = text }
    }

    /// Payload of `chat.message`.
    public struct ChatMessage: Codable, Sendable, Equatable {
        /// Who said it.
        public var from: String
        /// What was said, exactly as sent: receivers must make control characters harmless before display.
        public var text: String
        /// Whether only this client received it.
        public var `private`: Bool
        /// Creates the payload.
        public init(from: String, text: String, private isPrivate: Bool) {
            self.from = from
            self.text = text
            self.private = isPrivate
        }
    }

    /// Payload of `chat.members`.
    public struct ChatMembers: Codable, Sendable, Equatable {
        /// The room.
        public var room: String
        /// Its members, sorted.
        public var members: [String]
        /// Creates the payload.
        public init(room: String, members: [String]) {
            self.room = room
            self.members = members
        }
    }

    /// Payload of `chat.nick`.
    public struct ChatNick: Codable, Sendable, Equatable {
        /// The new name.
        public var name: String
        /// Creates the payload.
        public init(name: String) { self.name = name }
    }

    /// Payload of `chat.msg`.
    public struct ChatPrivate: Codable, Sendable, Equatable {
        /// The member to send to.
        public var to: String
        /// What to say.
        public var text: String
        /// Creates the payload.
        public init(to: String, text: String) {
            self.to = to
            self.text = text
        }
    }

    /// Payload of `chat.presence`.
    public struct ChatPresence: Codable, Sendable, Equatable {
        /// What happened.
        public enum Event: String, Codable, Sendable {
            /// `name` joined the room.
            case joined
            /// `name` left the room.
            case left
            /// `name` is now called `newName`.
            case renamed
        }
        /// What happened.
        public var event: Event
        /// Who it happened to.
        public var name: String
        /// The new name, for `renamed`.
        public var newName: String?
        /// Creates the payload.
        public init(event: Event, name: String, newName: String? = nil) {
            self.event = event
            self.name = name
            self.newName = newName
        }
    }

    /// Bytes carried in JSON as a standard base64 string.
    public struct Bytes: Codable, Sendable, Equatable {
        /// The bytes.
        public var bytes: [UInt8]
        /// Wraps `bytes`.
        public init(_ bytes: [UInt8]) { self.bytes = bytes }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "not base64")
                )
            }
            self.bytes = Array(data)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(Data(bytes).base64EncodedString())
        }
    }
}
