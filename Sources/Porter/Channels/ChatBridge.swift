import Logging
import NIOCore
import PorterProtocol

/// A chat member on a channel (docs/PROTOCOL.md section 5.4.6): the client's `chat.say`, `chat.msg`,
/// `chat.nick` and `chat.who` become ``ChatService`` calls, and the member's events go out as `chat.message`,
/// `chat.presence` and `chat.members`.
///
/// - A request the service refuses (a name taken, an unknown recipient, a message too long) is answered `reject`
///   and the member stays.
/// - The client's eof leaves the room: the events already queued for the member go out, then eof, `done {}` and
///   close.
/// - A member whose queue of ``ChatService/Configuration/queueDepth`` events overflows is removed from the room,
///   and its channel ends with `fail` `slow-consumer`; the connection and its other channels go on.
/// - A close from the client, or the connection's end, leaves the room too.
/// - When the server starts shutting down, the member leaves: its queued events go out, then eof, `fail`
///   `shutting-down` and close. A membership never ends by itself, so it does not hold the grace period that lets
///   commands and transfers finish.
///
/// The member's events wait in a ``ChatOutlet`` of ``ChatService/Configuration/queueDepth`` events, filled by the
/// service from any thread and emptied here, on the channel's event loop, with no task in between: as many as the
/// connection takes while it is writable, in flushes of ``flushBytes`` (a chat channel has no data, so its own
/// writability, which follows the client's window, says nothing). A member whose connection stops taking them (its
/// client reads nothing) fills the outlet and is removed. Each event's JSON is made once for all the members it goes to
/// (``ChatDelivery``). Every request is read as it comes; refusals go out as they are made, and a client that
/// floods bad requests and reads no refusals stops being read once its connection is not writable
/// (``ChannelMultiplexer/read(context:)``).
final class ChatBridge: ChannelDuplexHandler {
    typealias InboundIn = ChannelContent
    typealias OutboundIn = ChannelContent
    typealias OutboundOut = ChannelContent

    /// Fired into the channel's pipeline: the service removed the member for reading too slowly.
    private struct Evicted: Sendable {}

    private let chat: ChatService
    private let seat: ChatService.Seat
    private let outlet: ChatOutlet
    /// The client sent eof: the member has left, and `done` follows its last events.
    private var leaving = false
    /// The server is shutting down: the member has left, and `fail` `shutting-down` follows its last events.
    private var shuttingDown = false
    /// The result is sent, or the channel closed: nothing more happens.
    private var finished = false

    private init(chat: ChatService, seat: ChatService.Seat, outlet: ChatOutlet) {
        self.chat = chat
        self.seat = seat
        self.outlet = outlet
    }

    /// Joins `join`'s room for `child` and adds the bridge to its pipeline.
    ///
    /// - Returns: what the `accept` tells the client: the room, the name and the members.
    /// - Throws: the service's refusal (`bad-request`, `name-taken`, `limit-exceeded`), or the channel's error if it
    ///   closed meanwhile (the member then leaves at once).
    static func join(_ join: ControlMessage.ChatJoin, chat: ChatService, logger: Logger, on child: PorterChildChannel)
        throws -> ControlMessage.ChatJoined
    {
        let outlet = ChatOutlet(channel: child, depth: chat.configuration.queueDepth)
        let seat = try chat.join(room: join.room, name: join.name, checkingName: true, sink: outlet) {
            child.eventLoop.execute { child.pipeline.syncOperations.fireUserInboundEventTriggered(Evicted()) }
        }
        try ChannelServices.start(ChatBridge(chat: chat, seat: seat, outlet: outlet), on: child) {
            chat.leave(seat.id)
        }
        logger.info(
            "joined chat",
            metadata: ["chat.room": "\(seat.room)", "chat.name": "\(seat.name)", "channel": "\(child.id)"])
        return ControlMessage.ChatJoined(room: seat.room, name: seat.name, members: seat.members)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        // The channel is accepted: the events that came meanwhile go out.
        writeEvents(context: context)
    }

    /// Writes the waiting events while the connection takes them, flushing every ``flushBytes``, so that the
    /// connection's writability is checked against what was actually handed to it; once the member's events have
    /// ended and the last is out, ends the channel.
    private func writeEvents(context: ChannelHandlerContext) {
        guard !finished, context.channel.isActive, let child = context.channel as? PorterChildChannel else { return }
        // Removed by the service as a slow reader: the failure is the channel's last word, not what still waits.
        if outlet.isFinished, !leaving, !shuttingDown {
            evicted(context: context)
            return
        }
        var unflushed = 0
        while child.isConnectionWritable, let delivery = outlet.next() {
            let encoded = delivery.encoded
            context.write(NIOAny(encoded), promise: nil)
            unflushed += encoded.payload.readableBytes
            if unflushed >= Self.flushBytes {
                context.flush()
                unflushed = 0
                // A flush can make the connection writable again and so run this method within itself.
                guard !finished else { return }
            }
        }
        if unflushed > 0 { context.flush() }
        guard !finished, outlet.hasEnded else { return }
        finished = true
        if shuttingDown {
            context.finishChannel(with: .fail(ProtocolError(.shuttingDown, "the server is shutting down")))
        } else if leaving {
            context.finishChannel(with: .done(.empty))
        } else {
            evicted(context: context)
        }
    }

    /// Events are handed to the connection in flushes of about this many bytes: per chat channel, at most this
    /// much, plus one event, goes past its high-water mark before its writability stops the rest.
    static let flushBytes = 64 * 1024

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The state machine lets only the client's chat requests reach a chat channel.
        guard !finished, !leaving, case .message(let message) = unwrapInboundIn(data) else { return }
        let member = seat.id
        do throws(ProtocolError) {
            switch message {
            case .chatSay(let say): try chat.say(member, text: say.text)
            case .chatPrivate(let message): try chat.sendPrivate(member, to: message.to, text: message.text)
            case .chatNick(let nick): try chat.rename(member, to: nick.name)
            case .chatWho: try chat.requestMembers(member)
            default: return
            }
        } catch {
            // Not in the room any more: evicted, and the channel's `fail` is on its way.
            guard error.code != .unexpectedMessage else { return }
            // What earlier requests queued (a `chat.who`'s answer) goes first: answers keep the requests' order.
            writeEvents(context: context)
            guard !finished else { return }
            context.writeAndFlush(wrapOutboundOut(.message(.reject(error))), promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let event as ChannelEvent where event == .inputClosed:
            // Leaving ends the member's events once those queued are out; then `done`.
            leaving = true
            chat.leave(seat.id)
        case is ChatOutlet.EventsWaiting:
            writeEvents(context: context)
        case is ServerShutdown:
            guard !finished, !leaving, !shuttingDown else { return }
            // Leaving ends the member's events once those queued are out; then the failure.
            shuttingDown = true
            chat.leave(seat.id)
        case is PorterChildChannel.ConnectionWritability:
            writeEvents(context: context)
            context.fireUserInboundEventTriggered(event)
        case is Evicted:
            guard !finished else { return }
            evicted(context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// The failure is the channel's last word, not the events still waiting.
    private func evicted(context: ChannelHandlerContext) {
        finished = true
        let error = ProtocolError(
            .slowConsumer,
            "more than \(chat.configuration.queueDepth) events waited for this member; it was removed from the room")
        context.finishChannel(with: .fail(error))
    }

    /// The channel closed, however it did: the member leaves (if it still has not) and its events stop.
    func handlerRemoved(context: ChannelHandlerContext) {
        finished = true
        chat.leave(seat.id)
    }
}

/// A native chat member's events on their way to its channel: queued by ``ChatService`` under its lock, from
/// whichever thread an event comes, and taken by the ``ChatBridge`` on the channel's event loop. The first event
/// queued while the bridge is not already busy with them wakes it (``EventsWaiting``), once.
final class ChatOutlet: ChatEventSink {
    /// Fired into the channel's pipeline: events wait, or the member's events have ended.
    struct EventsWaiting: Sendable {}

    private struct State {
        var waiting = CircularBuffer<ChatDelivery>()
        /// No events follow the waiting ones.
        var ended = false
        /// An ``EventsWaiting`` is on its way, or the bridge stopped for the connection's writability
        /// (``PorterChildChannel/ConnectionWritability`` brings it back): no event needs to wake it.
        var bridgeComing = false
    }

    private let channel: any Channel
    private let depth: Int
    private let state = Locked(State())

    init(channel: any Channel, depth: Int) {
        self.channel = channel
        self.depth = depth
    }

    func deliver(_ delivery: ChatDelivery) -> Bool {
        let (taken, wake) = state.withLock { state -> (Bool, Bool) in
            guard !state.ended else { return (true, false) }
            guard state.waiting.count < depth else { return (false, false) }
            state.waiting.append(delivery)
            let wake = !state.bridgeComing
            state.bridgeComing = true
            return (true, wake)
        }
        if wake { wakeBridge() }
        return taken
    }

    func finish() {
        let wake = state.withLock { state -> Bool in
            state.ended = true
            let wake = !state.bridgeComing
            state.bridgeComing = true
            return wake
        }
        if wake { wakeBridge() }
    }

    /// On the event loop: the next event to write; `nil` when none waits, and the next to come wakes the bridge.
    func next() -> ChatDelivery? {
        state.withLock { state in
            if let next = state.waiting.popFirst() { return next }
            state.bridgeComing = false
            return nil
        }
    }

    /// The member's events have ended and every one was taken.
    var hasEnded: Bool {
        state.withLock { $0.ended && $0.waiting.isEmpty }
    }

    /// The member's events have ended, whether or not some still wait.
    var isFinished: Bool {
        state.withLock { $0.ended }
    }

    private func wakeBridge() {
        let channel = self.channel
        channel.eventLoop.execute {
            channel.pipeline.syncOperations.fireUserInboundEventTriggered(EventsWaiting())
        }
    }
}

extension ChatEvent {
    /// The channel message that tells a client about this event.
    var channelMessage: ChannelMessage {
        switch self {
        case .message(let from, let text, let isPrivate):
            .chatMessage(.init(from: from, text: text, private: isPrivate))
        case .joined(let name): .chatPresence(.init(event: .joined, name: name))
        case .left(let name): .chatPresence(.init(event: .left, name: name))
        case .renamed(let from, let to): .chatPresence(.init(event: .renamed, name: from, newName: to))
        case .members(let room, let names): .chatMembers(.init(room: room, members: names))
        }
    }
}
