import Logging
import NIOCore
import PorterProtocol

/// Serves one client connection: the handshake, then requests one after another until the client leaves.
///
/// A ``ProtocolError`` anywhere — from the frame decoder, the handshake or a request — is sent to the client as
/// a fatal `error` message and the connection closes; nothing else on the server is affected.
struct ServerConnection: Sendable {
    let identity: ServerHandshake.Identity
    let token: String
    let chat: ChatService
    let exec: ExecService
    let files: FileService
    var logger: Logger

    /// Serves `channel` until the client leaves, breaks the protocol, or the task is cancelled.
    ///
    /// - Parameter binding: the channel binding the client's proof must include (see ``ChannelBinding``); empty
    ///   on a plaintext connection.
    func serve(_ channel: FrameChannel, binding: [UInt8]) async {
        do {
            try await channel.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                do {
                    try await handshake(&frames, outbound, binding: binding)
                    try await channel.channel.triggerUserOutboundEvent(ConnectionDeadlines.Authenticated()).get()
                    try await serveRequests(&frames, outbound, channel: channel.channel)
                } catch let error as ProtocolError {
                    logger.info(
                        "closing connection: \(error.message)", metadata: ["error.code": "\(error.code.rawValue)"])
                    try? await outbound.write(ControlMessage.error(.init(error, fatal: true)).frame)
                }
            }
        } catch {
            logger.debug("connection ended: \(error)")
        }
    }

    @inline(never)
    private func handshake(
        _ frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator,
        _ outbound: NIOAsyncChannelOutboundWriter<Frame>,
        binding: [UInt8]
    ) async throws {
        var handshake = ServerHandshake(
            identity: identity, token: token, nonce: Randomness.bytes(ControlMessage.nonceLength), binding: binding)
        while let frame = try await frames.next() {
            switch handshake.receive(try ControlMessage(frame: frame)) {
            case .reply(let message):
                try await outbound.write(message.frame)
            case .authenticated(let message):
                try await outbound.write(message.frame)
                logger.debug("authenticated")
                return
            case .fail(let error):
                throw error
            }
        }
        throw PeerClosed()
    }

    /// The handshake and each kind of request (here and in ExecService and FileService) are `@inline(never)`: a
    /// task keeps the stack slabs of its deepest call for as long as it lives, so an idle connection should not
    /// carry the frames of every request inlined into this loop.
    private func serveRequests(
        _ frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator,
        _ outbound: NIOAsyncChannelOutboundWriter<Frame>,
        channel: any Channel
    ) async throws {
        var next = try await frames.next()
        while let frame = next {
            next = nil
            let message = try ControlMessage(frame: frame)
            switch message {
            case .keepalive:
                break
            case .ping(let ping):
                try await outbound.write(ControlMessage.pong(ping).frame)
            case .echo:
                try await serveEcho(&frames, outbound)
            case .chatJoin(let join):
                try await serveChat(join, &frames, outbound, channel: channel)
            case .exec(let request):
                // An exec ends when the client sends its next request, which it hands back.
                guard
                    let following = try await exec.serve(
                        request, &frames, outbound, eventLoop: channel.eventLoop, logger: logger)
                else { return }
                next = following
                continue
            case .fileList, .fileGet, .filePut, .fileMkdir, .fileSymlink, .fileAttrs:
                try await files.serve(message, &frames, outbound, eventLoop: channel.eventLoop, logger: logger)
            case let other:
                throw ProtocolError(.unexpectedMessage, "'\(other.type)' is not a request")
            }
            next = try await frames.next()
        }
    }

    /// Echo mode: every data frame comes back with ASCII letters upper-cased, until `end`.
    @inline(never)
    private func serveEcho(
        _ frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator,
        _ outbound: NIOAsyncChannelOutboundWriter<Frame>
    ) async throws {
        while let frame = try await frames.next() {
            if frame.kind == .data {
                var payload = frame.payload
                EchoTransform.uppercaseASCII(&payload)
                try await outbound.write(.data(payload))
                continue
            }
            switch try ControlMessage(frame: frame) {
            case .end:
                try await outbound.write(ControlMessage.end.frame)
                return
            case .keepalive:
                continue
            case .ping(let ping):
                try await outbound.write(ControlMessage.pong(ping).frame)
            case let other:
                throw ProtocolError(.unexpectedMessage, "'\(other.type)' during echo; send 'end' first")
            }
        }
    }

    /// Chat mode: room events flow out from one task while the client's requests are read here, until `chat.leave`.
    @inline(never)
    private func serveChat(
        _ join: ControlMessage.ChatJoin,
        _ frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator,
        _ outbound: NIOAsyncChannelOutboundWriter<Frame>,
        channel: any Channel
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
        let logger = self.logger
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
            try await readChatRequests(membership.id, &frames, outbound)
            // Leaving ends the event sequence; the writer sends what is still queued, then `end` follows it.
            chat.leave(membership.id)
            try await group.waitForAll()
        }
        try await outbound.write(ControlMessage.end.frame)
    }

    private func readChatRequests(
        _ member: UInt64,
        _ frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator,
        _ outbound: NIOAsyncChannelOutboundWriter<Frame>
    ) async throws {
        while let frame = try await frames.next() {
            do {
                switch try ControlMessage(frame: frame) {
                case .chatSay(let say): try chat.say(member, text: say.text)
                case .chatPrivate(let message): try chat.sendPrivate(member, to: message.to, text: message.text)
                case .chatNick(let nick): try chat.rename(member, to: nick.name)
                case .chatWho: try chat.requestMembers(member)
                case .chatLeave: return
                case .keepalive: continue
                case .ping(let ping): try await outbound.write(ControlMessage.pong(ping).frame)
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

/// The client closed the connection in the middle of something.
private struct PeerClosed: Error {}
