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
/// recipients). Its JSON for a native channel is made once, by the first member's channel that writes it, and
/// shared by the others.
final class ChatDelivery: Sendable {
    /// The event.
    let event: ChatEvent
    private let made = Locked<PorterChildChannel.EncodedMessage?>(nil)

    init(_ event: ChatEvent) {
        self.event = event
    }

    /// The event as a native chat channel's message with its JSON (`event.channelMessage` and its `payload`), made
    /// on the first call.
    var encoded: PorterChildChannel.EncodedMessage {
        made.withLock { made in
            if let made { return made }
            let message = event.channelMessage
            let encoded = PorterChildChannel.EncodedMessage(message: message, payload: message.payload)
            made = encoded
            return encoded
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
