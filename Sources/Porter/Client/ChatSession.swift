import NIOCore
import PorterProtocol

/// Membership of a chat room, made by ``ClientConnection/joinChat(room:name:)``.
///
/// Hand ``sender`` to the task that sends; read events with ``nextEvent()`` in one other task.
public final class ChatSession {
    /// What a member is told.
    public enum Event: Sendable, Equatable {
        /// Something happened in the room.
        case chat(ChatEvent)
        /// The server refused one request (a name taken, an unknown recipient); the session goes on.
        case refused(String)
    }

    /// The room joined.
    public let room: String
    /// The name joined with.
    public let name: String
    /// The members when joining, this one included.
    public let members: [String]
    /// Sends requests; safe to use from another task.
    public let sender: ChatSender
    private let connection: ClientConnection

    init(connection: ClientConnection, joined: ControlMessage.ChatJoined) {
        self.connection = connection
        self.room = joined.room
        self.name = joined.name
        self.members = joined.members
        self.sender = ChatSender(writer: connection.writer)
    }

    /// The next event, or `nil` once the server has confirmed ``ChatSender/leave()``.
    public func nextEvent() async throws -> Event? {
        switch try await connection.frames.nextMessage(allowingErrors: true) {
        case .chatMessage(let message):
            return .chat(.message(from: message.from, text: message.text, isPrivate: message.private))
        case .chatPresence(let presence):
            switch presence.event {
            case .joined: return .chat(.joined(name: presence.name))
            case .left: return .chat(.left(name: presence.name))
            case .renamed: return .chat(.renamed(from: presence.name, to: presence.newName ?? presence.name))
            }
        case .chatMembers(let members): return .chat(.members(room: members.room, names: members.members))
        case .error(let body) where !body.fatal: return .refused(body.message)
        case .error(let body): throw PorterError(remote: body)
        case .end: return nil
        case let other: throw PorterError(.protocolViolation, "unexpected \(other.type) from the server during chat")
        }
    }
}

/// The sending half of a ``ChatSession``.
public struct ChatSender: Sendable {
    let writer: FrameWriter

    /// Says `text` to the room.
    public func say(_ text: String) async throws {
        try await writer.send(ControlMessage.chatSay(.init(text: text)))
    }

    /// Says `text` to `member` only.
    public func sendPrivate(to member: String, _ text: String) async throws {
        try await writer.send(ControlMessage.chatPrivate(.init(to: member, text: text)))
    }

    /// Asks to be called `name` from now on.
    public func rename(to name: String) async throws {
        try await writer.send(ControlMessage.chatNick(.init(name: name)))
    }

    /// Asks for the member list; it arrives as a ``ChatEvent/members(room:names:)`` event.
    public func requestMembers() async throws {
        try await writer.send(ControlMessage.chatWho)
    }

    /// Leaves the room; ``ChatSession/nextEvent()`` returns `nil` once the server confirms.
    public func leave() async throws {
        try await writer.send(ControlMessage.chatLeave)
    }
}
