import NIOCore
import PorterProtocol

/// Membership of a chat room, made by ``ClientConnection/joinChat(room:name:)``.
///
/// Hand ``sender`` to the task that sends; read events with ``nextEvent()`` in one other task. The member leaves with
/// ``ChatSender/leave()``, when the connection ends, or when the server ends the membership (`slow-consumer`,
/// `shutting-down`). The membership is a channel of its own, which the client also
/// closes when a program stops reading (``maxWaitingEvents``).
public final class ChatSession {
    /// What a member is told.
    public enum Event: Sendable, Equatable {
        /// Something happened in the room.
        case chat(ChatEvent)
        /// The server refused one request (a name taken, an unknown recipient); the session goes on.
        case refused(String)
    }

    /// The most events that wait in the membership's channel for ``nextEvent()`` (beside at
    /// most as many the session read before the program stopped). The server sends a member's events whether or
    /// not the program reads them; one more closes the channel, which leaves the room, and ``nextEvent()`` throws
    /// (code `slow-consumer`) after the events before it, as the server removes a member whose own queue
    /// overflows.
    public static let maxWaitingEvents = 256

    /// The room joined.
    public let room: String
    /// The name joined with.
    public let name: String
    /// The members when joining, this one included.
    public let members: [String]
    /// Sends requests; safe to use from another task.
    public let sender: ChatSender
    private let channel: ClientChannel
    /// The server's `done` or `fail` came (the member left).
    private var done = false

    /// The membership on an accepted `chat` channel.
    init(channel: ClientChannel, joined: ControlMessage.ChatJoined) {
        self.channel = channel
        self.room = joined.room
        self.name = joined.name
        self.members = joined.members
        self.sender = ChatSender(channel: channel)
    }

    /// The next event, or `nil` once the server has confirmed ``ChatSender/leave()``.
    ///
    /// - Throws: ``PorterError`` if the connection ends; if the server removed this member for reading too
    ///   slowly (code `slow-consumer`; the connection goes on); or, of kind ``PorterError/Kind/connection`` and code
    ///   `shutting-down`, once the server has started shutting down, which ends every membership at once.
    public func nextEvent() async throws -> Event? {
        // Events until the server's eof and `done`, which answer this side's eof.
        while let next = try await channel.receive() {
            switch next {
            case .message(.chatMessage(let message)): return Self.event(message)
            case .message(.chatPresence(let presence)): return Self.event(presence)
            case .message(.chatMembers(let members)): return Self.event(members)
            case .message(.reject(let error)): return .refused(error.message)
            case .eof: continue
            case .message(.done):
                done = true
            case .message(.fail(let error)):
                done = true
                // `shutting-down` is of kind `connection`, as on every channel; the rest refuse the membership.
                throw PorterError(remote: .init(error, fatal: false))
            case let other:
                throw PorterError(.protocolViolation, "unexpected \(other) from the server on a chat channel")
            }
        }
        guard done else { throw PorterError(.connection, "the server closed the chat channel") }
        return nil
    }

    private static func event(_ message: ControlMessage.ChatMessage) -> Event {
        .chat(.message(from: message.from, text: message.text, isPrivate: message.private))
    }

    private static func event(_ presence: ControlMessage.ChatPresence) -> Event {
        switch presence.event {
        case .joined: .chat(.joined(name: presence.name))
        case .left: .chat(.left(name: presence.name))
        case .renamed: .chat(.renamed(from: presence.name, to: presence.newName ?? presence.name))
        }
    }

    private static func event(_ members: ControlMessage.ChatMembers) -> Event {
        .chat(.members(room: members.room, names: members.members))
    }
}

/// The sending half of a ``ChatSession``.
public struct ChatSender: Sendable {
    /// The member's channel.
    let channel: ClientChannel

    /// Says `text` to the room.
    public func say(_ text: String) async throws {
        let say = ControlMessage.ChatSay(text: text)
        try await send(.chatSay(say))
    }

    /// Says `text` to `member` only.
    public func sendPrivate(to member: String, _ text: String) async throws {
        let message = ControlMessage.ChatPrivate(to: member, text: text)
        try await send(.chatPrivate(message))
    }

    /// Asks to be called `name` from now on.
    public func rename(to name: String) async throws {
        let nick = ControlMessage.ChatNick(name: name)
        try await send(.chatNick(nick))
    }

    /// Asks for the member list; it arrives as a ``ChatEvent/members(room:names:)`` event.
    public func requestMembers() async throws {
        try await send(.chatWho)
    }

    /// Leaves the room; ``ChatSession/nextEvent()`` returns `nil` once the server confirms.
    public func leave() async throws {
        try await channel.finish()
    }

    /// Sends a request on the member's channel.
    private func send(_ message: ChannelMessage) async throws {
        try await channel.write(.message(message))
    }
}
