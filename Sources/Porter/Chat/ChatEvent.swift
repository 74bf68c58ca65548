/// Something a chat member is told about.
public enum ChatEvent: Sendable, Equatable {
    /// `from` said `text`, to the room or, if `isPrivate`, to this member only.
    case message(from: String, text: String, isPrivate: Bool)
    /// `name` joined the room.
    case joined(name: String)
    /// `name` left the room.
    case left(name: String)
    /// `from` is now called `to`.
    case renamed(from: String, to: String)
    /// The answer to a request for the member list.
    case members(room: String, names: [String])
}
