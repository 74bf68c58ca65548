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
///
/// The events cross one task per member, from the service's `AsyncStream` to the channel, each written once the
/// one before has reached the connection (chat is not a data path). Every request is read as it comes; refusals go
/// out as they are made, and a client that floods bad requests and reads no refusals stops being read once its
/// connection is not writable (``ChannelMultiplexer/read(context:)``).
final class ChatBridge: ChannelDuplexHandler {
    typealias InboundIn = ChannelContent
    typealias OutboundIn = ChannelContent
    typealias OutboundOut = ChannelContent

    /// Fired into the channel's pipeline: the service removed the member for reading too slowly.
    private struct Evicted: Sendable {}
    /// Fired into the channel's pipeline: every event of the member has been written, or writing failed.
    private struct EventsWritten: Sendable {}

    private let chat: ChatService
    private let membership: ChatService.Membership
    private var relay: Task<Void, Never>?
    /// The client sent eof: the member has left, and `done` follows its last events.
    private var leaving = false
    /// The result is sent, or the channel closed: nothing more happens.
    private var finished = false

    private init(chat: ChatService, membership: ChatService.Membership) {
        self.chat = chat
        self.membership = membership
    }

    /// Joins `join`'s room for `child` and adds the bridge to its pipeline.
    ///
    /// - Returns: what the `accept` tells the client: the room, the name and the members.
    /// - Throws: the service's refusal (`bad-request`, `name-taken`, `limit-exceeded`), or the channel's error if it
    ///   closed meanwhile (the member then leaves at once).
    static func join(_ join: ControlMessage.ChatJoin, chat: ChatService, logger: Logger, on child: PorterChildChannel)
        throws -> ControlMessage.ChatJoined
    {
        let membership = try chat.join(room: join.room, name: join.name) {
            child.eventLoop.execute { child.pipeline.syncOperations.fireUserInboundEventTriggered(Evicted()) }
        }
        try ChannelServices.start(ChatBridge(chat: chat, membership: membership), on: child) {
            chat.leave(membership.id)
        }
        logger.info(
            "joined chat",
            metadata: ["chat.room": "\(membership.room)", "chat.name": "\(membership.name)", "channel": "\(child.id)"])
        return ControlMessage.ChatJoined(room: membership.room, name: membership.name, members: membership.members)
    }

    func channelActive(context: ChannelHandlerContext) {
        let events = membership.events
        let channel = context.channel
        relay = Task {
            for await event in events {
                // Evicted: the failure is the channel's last word, not the events still buffered.
                guard !Task.isCancelled else { break }
                do {
                    try await channel.writeAndFlush(ChannelContent.message(event.channelMessage)).get()
                } catch {
                    break
                }
            }
            channel.eventLoop.execute {
                channel.pipeline.syncOperations.fireUserInboundEventTriggered(EventsWritten())
            }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The state machine lets only the client's chat requests reach a chat channel.
        guard !finished, !leaving, case .message(let message) = unwrapInboundIn(data) else { return }
        let member = membership.id
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
            context.writeAndFlush(wrapOutboundOut(.message(.reject(error))), promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let event as ChannelEvent where event == .inputClosed:
            // Leaving ends the member's events once those queued are out; EventsWritten follows them.
            leaving = true
            chat.leave(membership.id)
        case is EventsWritten:
            guard !finished else { return }
            // The events end when the member leaves, or when the service removed it (which Evicted also says,
            // unless it came before this handler did).
            if leaving {
                finished = true
                context.finishChannel(with: .done(.empty))
            } else {
                evicted(context: context)
            }
        case is Evicted:
            guard !finished else { return }
            evicted(context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func evicted(context: ChannelHandlerContext) {
        finished = true
        relay?.cancel()
        let error = ProtocolError(
            .slowConsumer,
            "more than \(chat.configuration.queueDepth) events waited for this member; it was removed from the room")
        context.finishChannel(with: .fail(error))
    }

    /// The channel closed, however it did: the member leaves (if it still has not) and its events stop.
    func handlerRemoved(context: ChannelHandlerContext) {
        finished = true
        chat.leave(membership.id)
        relay?.cancel()
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
