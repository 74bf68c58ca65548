/// A channel message of protocol version 2: the JSON payload of a control frame on a channel from 1 up
/// (docs/PROTOCOL.md sections 3 and 5).
///
/// `accept` and `done` have other members for each service, so a channel's messages are decoded knowing its
/// service (``init(payload:service:)``). Payloads that are the same as version 1's reuse ``ControlMessage``'s types.
///
/// ```
/// {"type":"open","service":"file.get","window":8388608,"path":"notes.txt"}
/// ```
public enum ChannelMessage: Sendable, Equatable {
    /// Client → server: opens the channel for a service, granting the server `window` bytes of credit.
    case open(Open)
    /// Server → client: the channel is open; grants the client `window` bytes of credit.
    case accept(Accept)
    /// Server → client: the channel is not opened; the id is free again.
    case refuse(ProtocolError)
    /// Server → client: one request inside the channel is refused; the channel goes on.
    case reject(ProtocolError)
    /// Server → client: the channel's result, for every service but exec.
    case done(Done)
    /// Server → client: the channel's operation failed; its result.
    case fail(ProtocolError)
    /// Client → server: deliver a signal to the command.
    case execSignal(ControlMessage.ExecSignal)
    /// Client → server: the terminal's size changed.
    case execResize(TerminalSize)
    /// Server → client: the command has ended; exec's result.
    case execExit(ControlMessage.ExecExit)
    /// Client → server: an upload's data starts at this offset.
    case fileBegin(ControlMessage.FileBegin)
    /// Client → server: an upload's data is complete; carries the digest of the whole file.
    case fileEnd(ControlMessage.FileEnd)
    /// Server → client: part of a listing.
    case fileListing(Listing)
    /// Client → server: say something to the room.
    case chatSay(ControlMessage.ChatSay)
    /// Client → server: a private message to one member.
    case chatPrivate(ControlMessage.ChatPrivate)
    /// Client → server: change name in the room.
    case chatNick(ControlMessage.ChatNick)
    /// Client → server: ask who is in the room.
    case chatWho
    /// Server → client: someone said something, to the room or privately.
    case chatMessage(ControlMessage.ChatMessage)
    /// Server → client: someone joined, left or changed name.
    case chatPresence(ControlMessage.ChatPresence)
    /// Server → client: the members of the room.
    case chatMembers(ControlMessage.ChatMembers)

    /// The `"type"` member that names this message on the wire.
    public var type: String {
        switch self {
        case .open: "open"
        case .accept: "accept"
        case .refuse: "refuse"
        case .reject: "reject"
        case .done: "done"
        case .fail: "fail"
        case .execSignal: "exec.signal"
        case .execResize: "exec.resize"
        case .execExit: "exec.exit"
        case .fileBegin: "file.begin"
        case .fileEnd: "file.end"
        case .fileListing: "file.listing"
        case .chatSay: "chat.say"
        case .chatPrivate: "chat.msg"
        case .chatNick: "chat.nick"
        case .chatWho: "chat.who"
        case .chatMessage: "chat.message"
        case .chatPresence: "chat.presence"
        case .chatMembers: "chat.members"
        }
    }
}

// MARK: - Payloads

extension ChannelMessage {
    /// Payload of `exec.resize`: the terminal's new size (its type stays what `open` said).
    public struct TerminalSize: Codable, Sendable, Equatable {
        /// Rows.
        public var rows: Int
        /// Columns.
        public var cols: Int
        /// Creates the payload.
        public init(rows: Int, cols: Int) {
            self.rows = rows
            self.cols = cols
        }
    }

    /// Payload of `file.listing`: entries of a listing, as many messages as the listing needs.
    public struct Listing: Codable, Sendable, Equatable {
        /// Entries, each directory before what it contains.
        public var entries: [ControlMessage.FileEntry]
        /// Creates the payload.
        public init(entries: [ControlMessage.FileEntry]) { self.entries = entries }
    }
}
