import NIOCore

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

/// One event on its way to every member it is for (``ChatService`` makes one per event, whatever the number of
/// recipients). What a front door makes of it for its wire is made once, by the first member's connection that
/// writes it, and shared by the others.
final class ChatDelivery: Sendable {
    /// The event.
    let event: ChatEvent
    private let encoding = Locked<ByteBuffer?>(nil)

    init(_ event: ChatEvent) {
        self.event = event
    }

    /// The event's encoding, made by `encode` on the first call. One front door, the native channels, encodes
    /// deliveries; a second with another encoding would need a place of its own.
    func encoded(by encode: (ChatEvent) -> ByteBuffer) -> ByteBuffer {
        encoding.withLock { encoding in
            if let encoding { return encoding }
            let made = encode(event)
            encoding = made
            return made
        }
    }
}

/// Where a chat member's events go (``ChatService/join(room:name:checkingName:sink:onEvict:)``). Both calls come
/// with the service's lock held, so a sink sees a room's events in the room's order and must not block.
protocol ChatEventSink: Sendable {
    /// Queues `delivery` for the member; `false` if its queue of ``ChatService/Configuration/queueDepth`` events is
    /// full, which removes the member from its room as a slow reader.
    func deliver(_ delivery: ChatDelivery) -> Bool
    /// The member has left or was removed: no events follow.
    func finish()
}
