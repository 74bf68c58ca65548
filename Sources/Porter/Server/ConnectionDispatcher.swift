import Logging
import NIOCore
import PorterProtocol

/// The last handler of a native connection: it runs the handshake and, while the connection is idle, answers
/// keepalives and pings itself (``ConnectionMessages``), on the event loop. Only a request starts a task — a ``RequestInbox`` spell — so
/// an authenticated connection that is doing nothing costs its pipeline and no more.
///
/// A ``ProtocolError`` from the frame decoder or the handshake is sent to the client as a fatal `error` message
/// and the connection closes; during a spell, the task that serves it does this once it has taken the frames
/// before the error.
final class ConnectionDispatcher: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = Frame
    typealias OutboundOut = Frame

    /// Starts the task that serves a spell; returns `false` if the server is shutting down.
    typealias StartSpell = @Sendable (@escaping @Sendable () async -> Void) -> Bool

    private enum State {
        case handshake(ServerHandshake)
        case authenticated
        case closed
    }

    private let connection: ServerConnection
    private let readAhead: Int
    private let readAheadBytes: Int
    private let startSpell: StartSpell
    private var state: State
    private var inbox: RequestInbox?
    private var readingPaused = false
    private var readPending = false
    private var peerLogger: Logger?

    /// - Parameter binding: the channel binding the client's proof must include (see ``ChannelBinding``); empty
    ///   on a plaintext connection.
    init(
        connection: ServerConnection, binding: [UInt8], readAhead: Int, readAheadBytes: Int,
        startSpell: @escaping StartSpell
    ) {
        self.connection = connection
        self.readAhead = readAhead
        self.readAheadBytes = readAheadBytes
        self.startSpell = startSpell
        self.state = .handshake(
            ServerHandshake(
                identity: connection.identity, token: connection.token,
                nonce: Randomness.bytes(ControlMessage.nonceLength), binding: binding))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if connection.logger.logLevel <= .debug { logger(context).debug("accepted") }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch state {
        case .handshake(var handshake):
            do {
                switch handshake.receive(try ControlMessage(frame: frame)) {
                case .reply(let message):
                    state = .handshake(handshake)
                    context.writeAndFlush(wrapOutboundOut(message.frame), promise: nil)
                case .authenticated(let message):
                    state = .authenticated
                    context.writeAndFlush(wrapOutboundOut(message.frame), promise: nil)
                    context.triggerUserOutboundEvent(ConnectionDeadlines.Authenticated(), promise: nil)
                    if connection.logger.logLevel <= .debug { logger(context).debug("authenticated") }
                case .fail(let error):
                    throw error
                }
            } catch {
                fail(context: context, error)
            }
        case .authenticated:
            // During a spell, keepalives and pings wait their turn in its inbox, so that answers stay in order.
            if let inbox, case .queued(let pause) = inbox.push(frame) {
                if pause { readingPaused = true }
                return
            }
            inbox = nil
            let answered = ConnectionMessages.handled(frame) { reply in
                context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
            }
            if !answered { beginSpell(context: context, first: frame) }
        case .closed:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // During a spell, its task reports the error after the frames that came before it.
        if inbox?.finish(.failure(error)) == true {
            if !(error is ProtocolError) { context.close(promise: nil) }
        } else {
            fail(context: context, error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        inbox?.finish(.success(()))
        inbox = nil
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if readingPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    private func beginSpell(context: ChannelHandlerContext, first frame: Frame) {
        let channel = context.channel
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let inbox = RequestInbox(
            first: frame, readAhead: readAhead, readAheadBytes: readAheadBytes,
            answer: { reply in channel.writeAndFlush(reply, promise: nil) },
            resumeReading: {
                channel.eventLoop.execute {
                    let (dispatcher, context) = loopBound.value
                    dispatcher.resumeReading(context: context)
                }
            })
        self.inbox = inbox
        let connection = self.connection
        let logger = logger(context)
        guard startSpell({ await connection.serve(inbox, channel: channel, logger: logger) }) else {
            context.close(promise: nil)
            return
        }
    }

    private func resumeReading(context: ChannelHandlerContext) {
        readingPaused = false
        if readPending {
            readPending = false
            context.read()
        }
    }

    /// Sends `error` as a fatal `error` message if it is a protocol error, and closes the connection.
    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        if case .closed = state { return }
        state = .closed
        guard let error = error as? ProtocolError else {
            logger(context).debug("connection ended: \(error)")
            context.close(promise: nil)
            return
        }
        ServerConnection.logClosing(error, logger: logger(context))
        let frame = ControlMessage.error(.init(error, fatal: true)).frame
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// The server's logger with the client's address, made when first needed.
    private func logger(_ context: ChannelHandlerContext) -> Logger {
        if let peerLogger { return peerLogger }
        var logger = connection.logger
        logger[metadataKey: "connection.peer"] = "\(context.channel.remoteAddress.map { "\($0)" } ?? "unix")"
        peerLogger = logger
        return logger
    }
}

/// A server's open native connections, so that shutting down can close them all: an idle one has no task that
/// cancellation would reach.
final class OpenConnections: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var closing = false
    }

    private let state = Locked(State())

    /// Registers `channel` until it closes; after ``closeAll()``, closes it instead.
    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        let added = state.withLock { state in
            if !state.closing { state.channels[key] = channel }
            return !state.closing
        }
        guard added else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [state] _ in
            state.withLock { _ = $0.channels.removeValue(forKey: key) }
        }
    }

    /// Closes every open connection, and any added later.
    func closeAll() {
        let channels = state.withLock { state in
            state.closing = true
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
    }
}
