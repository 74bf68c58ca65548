import Logging
import NIOCore
import PorterProtocol

/// Serves an authenticated connection's requests, one spell at a time (see ``RequestInbox``); the handshake and
/// the idle time between spells belong to ``ConnectionDispatcher``.
///
/// A ``ProtocolError`` anywhere in a request is sent to the client as a fatal `error` message and the connection
/// closes; nothing else on the server is affected.
struct ServerConnection: Sendable {
    let identity: ServerHandshake.Identity
    let token: String
    let chat: ChatService
    let exec: ExecService
    let files: FileService
    let forward: ForwardService
    let logger: Logger

    /// Serves the requests queued in `inbox` until, between two requests, nothing more is queued, the client
    /// leaves or breaks the protocol, or the task is cancelled.
    func serve(_ inbox: RequestInbox, channel: any Channel, logger: Logger) async {
        let outbound = FrameOutbound(channel: channel)
        do {
            try await serveRequests(inbox, outbound, channel: channel, logger: logger)
        } catch let error as ProtocolError {
            Self.logClosing(error, logger: logger)
            try? await outbound.write(ControlMessage.error(.init(error, fatal: true)).frame)
            channel.close(promise: nil)
        } catch {
            logger.debug("connection ended: \(error)")
            channel.close(promise: nil)
        }
    }

    static func logClosing(_ error: ProtocolError, logger: Logger) {
        logger.info("closing connection: \(error.message)", metadata: ["error.code": "\(error.code.rawValue)"])
    }

    private func serveRequests(
        _ frames: RequestInbox, _ outbound: FrameOutbound, channel: any Channel, logger: Logger
    ) async throws {
        var next = try frames.nextRequest()
        while let frame = next {
            next = nil
            let message = try frame.message()
            switch message {
            case .echo:
                try await serveEcho(frames, outbound)
            case .chatJoin(let join):
                try await serveChat(join, frames, outbound, channel: channel, logger: logger)
            case .exec(let request):
                // An exec ends when the client sends its next request, which it hands back.
                guard
                    let following = try await exec.serve(
                        request, frames, outbound, eventLoop: channel.eventLoop, logger: logger)
                else { return }
                next = following
                continue
            case .fileList, .fileGet, .filePut, .fileMkdir, .fileSymlink, .fileAttrs:
                try await files.serve(message, frames, outbound, eventLoop: channel.eventLoop, logger: logger)
            case let other:
                throw ProtocolError(.unexpectedMessage, "'\(other.type)' is not a request")
            }
            next = try frames.nextRequest()
        }
    }

    /// Echo mode: every data frame comes back with ASCII letters upper-cased, until `end`.
    private func serveEcho(
        _ frames: RequestInbox,
        _ outbound: FrameOutbound
    ) async throws {
        while let answer = try await nextEchoAnswer(frames) {
            try await outbound.write(.data(answer))
        }
        try await outbound.write(ControlMessage.end.frame)
    }

    /// The answer to the next echo data frame, or `nil` at `end`.
    ///
    /// The answer is a copy of just the payload, changed in place, and the frame is gone once this returns: while
    /// a client that does not read holds the answer up, it holds only its own bytes, not the read they came in.
    private func nextEchoAnswer(_ frames: RequestInbox) async throws -> ByteBuffer? {
        guard let delivered = try await frames.next() else { throw PeerClosed() }
        if delivered.frame.kind == .data {
            var payload = delivered.frame.payload.compacted()
            EchoTransform.uppercaseASCII(&payload)
            return payload
        }
        switch try delivered.message() {
        case .end: return nil
        case let other: throw ProtocolError(.unexpectedMessage, "'\(other.type)' during echo; send 'end' first")
        }
    }

    /// Chat mode: room events flow out from one task while the client's requests are read here, until `chat.leave`.
    private func serveChat(
        _ join: ControlMessage.ChatJoin,
        _ frames: RequestInbox,
        _ outbound: FrameOutbound,
        channel: any Channel,
        logger: Logger
    ) async throws {
        let membership: ChatService.Membership
        do {
            membership = try chat.join(room: join.room, name: join.name) {
                channel.close(promise: nil)
            }
        } catch {
            try await outbound.write(ControlMessage.error(.init(error, fatal: false)).frame)
            return
        }
        logger.info("joined chat", metadata: ["chat.room": "\(membership.room)", "chat.name": "\(membership.name)"])
        defer { chat.leave(membership.id) }
        try await outbound.write(
            ControlMessage.chatJoined(.init(room: membership.room, name: membership.name, members: membership.members))
                .frame
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in membership.events {
                    try await outbound.write(event.message.frame)
                }
            }
            try await readChatRequests(membership.id, frames, outbound)
            // Leaving ends the event sequence; the writer sends what is still queued, then `end` follows it.
            chat.leave(membership.id)
            try await group.waitForAll()
        }
        try await outbound.write(ControlMessage.end.frame)
    }

    private func readChatRequests(
        _ member: UInt64,
        _ frames: RequestInbox,
        _ outbound: FrameOutbound
    ) async throws {
        while let frame = try await frames.next() {
            do {
                switch try frame.message() {
                case .chatSay(let say): try chat.say(member, text: say.text)
                case .chatPrivate(let message): try chat.sendPrivate(member, to: message.to, text: message.text)
                case .chatNick(let nick): try chat.rename(member, to: nick.name)
                case .chatWho: try chat.requestMembers(member)
                case .chatLeave: return
                case let other:
                    throw ProtocolError(.unexpectedMessage, "'\(other.type)' during chat; send 'chat.leave' first")
                }
            } catch let error as ProtocolError where error.isRecoverableChatError {
                try await outbound.write(ControlMessage.error(.init(error, fatal: false)).frame)
            }
        }
        throw PeerClosed()
    }
}

extension ProtocolError {
    /// Refusals of one chat request that leave the member in the room.
    fileprivate var isRecoverableChatError: Bool {
        [.badRequest, .nameTaken, .noSuchUser, .limitExceeded].contains(code)
    }
}

extension ChatEvent {
    /// The control message that tells a native client about this event.
    var message: ControlMessage {
        switch channelMessage {
        case .chatMessage(let body): .chatMessage(body)
        case .chatPresence(let body): .chatPresence(body)
        case .chatMembers(let body): .chatMembers(body)
        case let other: preconditionFailure("a chat event became '\(other.type)'")
        }
    }
}

/// The client closed the connection in the middle of something.
private struct PeerClosed: Error {}
