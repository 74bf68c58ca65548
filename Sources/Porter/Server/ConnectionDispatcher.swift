import Logging
import NIOCore
import PorterProtocol

/// The last handler of a native connection: it drives the connection's ``ConnectionStateMachine`` with every
/// frame and carries out its actions on the event loop — the handshake, the authentication deadline and the idle
/// timeout (one event-loop timer), the answers to keepalives and pings, fatal errors. Only a request starts a task
/// — a ``RequestInbox`` spell — so an authenticated connection that is doing nothing costs its pipeline and no
/// more.
///
/// A ``ProtocolError`` from the frame decoder or the state machine is sent to the client as a fatal `error`
/// message and the connection closes; during a spell, the task that serves it reports a decoder's error once it
/// has taken the frames before it, and a ping's answer waits in the inbox behind the answers to the requests
/// before it.
final class ConnectionDispatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = Frame
    typealias OutboundOut = Frame

    /// Starts the task that serves a spell; returns `false` if the server is shutting down.
    typealias StartSpell = @Sendable (@escaping @Sendable () async -> Void) -> Bool

    /// How long the error frame of a passed deadline may take to leave before the connection closes regardless:
    /// before the TLS handshake has completed, the write cannot.
    static let closeGrace = TimeAmount.milliseconds(500)

    private let connection: ServerConnection
    private let readAhead: Int
    private let readAheadBytes: Int
    private let startSpell: StartSpell
    private var machine: ConnectionStateMachine
    private var timer: Scheduled<Void>?
    private var closed = false
    private var inbox: RequestInbox?
    private var readingPaused = false
    private var readPending = false
    private var peerLogger: Logger?

    /// - Parameter binding: the channel binding the client's proof must include (see ``ChannelBinding``); empty
    ///   on a plaintext connection.
    init(
        connection: ServerConnection, binding: [UInt8], timeouts: ConnectionStateMachine.Timeouts, readAhead: Int,
        readAheadBytes: Int, startSpell: @escaping StartSpell
    ) {
        self.connection = connection
        self.readAhead = readAhead
        self.readAheadBytes = readAheadBytes
        self.startSpell = startSpell
        self.machine = ConnectionStateMachine(
            server: ServerHandshake(
                identity: connection.identity, token: connection.token,
                nonce: Randomness.bytes(ControlMessage.nonceLength), binding: binding),
            timeouts: timeouts)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if connection.logger.logLevel <= .debug { logger(context).debug("accepted") }
        // The deadline starts when the connection does, before any TLS handshake.
        if context.channel.isActive { perform(machine.activated(now: .now()), context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(machine.activated(now: .now()), context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        perform(machine.received(unwrapInboundIn(data), now: .now()), context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // During a spell, its task reports the error after the frames that came before it; the deadlines still
        // run meanwhile.
        if inbox?.finish(.failure(error)) == true {
            if !(error is ProtocolError) { context.close(promise: nil) }
        } else {
            fail(context: context, error)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let shutdown = event as? ServerShutdown else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Not yet on version 2's channels: the connection fails at once, as a passed deadline does (before the
        // TLS handshake has completed, the error cannot leave).
        perform(machine.shutDown(grace: shutdown.grace, now: .now()), context: context, deadline: true)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        machine.closed()
        timer?.cancel()
        timer = nil
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

    /// Carries out the state machine's actions, in order.
    private func perform(
        _ actions: ConnectionStateMachine.Actions, context: ChannelHandlerContext, deadline: Bool = false
    ) {
        for action in actions {
            switch action {
            case .write(let message):
                // During a spell an answer waits its turn in the inbox, so that answers stay in order.
                if let inbox, case .queued(let pause) = inbox.push(answer: message.frame) {
                    if pause { readingPaused = true }
                    continue
                }
                inbox = nil
                context.writeAndFlush(wrapOutboundOut(message.frame), promise: nil)
            case .send(let frame):
                context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
            case .switchForm:
                context.triggerUserOutboundEvent(FrameForm.channels, promise: nil)
            case .authenticated(let version):
                context.triggerUserOutboundEvent(ConnectionGate.Authenticated(), promise: nil)
                if connection.logger.logLevel <= .debug { logger(context).debug("authenticated") }
                if version == ConnectionMessage.version {
                    // What follows (a timer) is the multiplexer's to ask for again.
                    handOver(context: context)
                    return
                }
            case .channel, .pong, .global, .globalAnswered, .shutdownAnnounced:
                // Only after a hand-over, which leaves this handler, and on a client.
                break
            case .end:
                // A client's: the server's machine fails aloud.
                closed = true
                context.close(promise: nil)
            case .deliver(let delivered):
                if let inbox, case .queued(let pause) = inbox.push(delivered) {
                    if pause { readingPaused = true }
                    continue
                }
                inbox = nil
                beginSpell(context: context, first: delivered)
            case .scheduleTimer(let at):
                timer?.cancel()
                timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) { [self] in
                    timer = nil
                    perform(machine.deadlineReached(now: .now()), context: context, deadline: true)
                }
            case .cancelTimer:
                timer?.cancel()
                timer = nil
            case .fail(let error):
                if deadline {
                    expire(context: context, error)
                } else {
                    fail(context: context, error)
                }
            }
        }
    }

    /// Version 2: the connection's channels take it over. The multiplexer takes the state machine, this handler
    /// leaves the pipeline.
    private func handOver(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        closed = true
        let multiplexer = ChannelMultiplexer(
            machine: machine, services: ChannelServices(connection: connection, eventLoop: context.eventLoop),
            logger: logger(context))
        do {
            try context.pipeline.syncOperations.addHandler(multiplexer, position: .after(self))
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            context.close(promise: nil)
        }
    }

    private func beginSpell(context: ChannelHandlerContext, first frame: DeliveredFrame) {
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

    /// Sends the error of a passed deadline as a fatal `error` message and closes the connection, after a short
    /// grace period at the latest.
    private func expire(context: ChannelHandlerContext, _ error: ProtocolError) {
        guard !closed else { return }
        closed = true
        if connection.logger.logLevel <= .debug { logger(context).debug("closing connection: \(error.message)") }
        let frame = ControlMessage.error(.init(error, fatal: true)).frame
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeGrace) {
            context.close(promise: nil)
        }
    }

    /// Sends `error` as a fatal `error` message if it is a protocol error, and closes the connection.
    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        guard !closed else { return }
        closed = true
        machine.closed()
        timer?.cancel()
        timer = nil
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

/// A server's open native connections, so that shutting down can reach them all: an idle one has no task that
/// cancellation would reach.
final class OpenConnections: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Whether the server is shutting down: a connection added now is closed at once.
        var shuttingDown = false
        /// Who waits for the last connection to close, once shutting down.
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Locked(State())

    /// Registers `channel` until it closes; once shutting down, closes it instead.
    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        let added = state.withLock { state in
            if !state.shuttingDown { state.channels[key] = channel }
            return !state.shuttingDown
        }
        guard added else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [self] _ in
            state.withLock { _ = $0.channels.removeValue(forKey: key) }
            finishIfEmpty()
        }
    }

    /// How many connections are open.
    var count: Int { state.withLock { $0.channels.count } }

    /// Tells every open connection that the server is shutting down, with `grace` for the channels in use
    /// (``ServerShutdown``); a second call ends the grace at once. Connections added later are closed.
    func shutDown(grace: TimeAmount) {
        let channels = state.withLock { state in
            state.shuttingDown = true
            return Array(state.channels.values)
        }
        let event = ServerShutdown(grace: grace)
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(event) }
        // A connection that did not close itself in time (its error message never left) is closed regardless.
        channels.first?.eventLoop.scheduleTask(in: grace + Self.backstop) { [self] in closeAll() }
        finishIfEmpty()
    }

    /// How long after the end of a shutdown's grace period a connection still open is closed without its error
    /// message having left: twice the time ``ConnectionDispatcher/closeGrace`` gives such a message.
    static let backstop = ConnectionDispatcher.closeGrace * 2

    /// Closes every open connection, and any added later.
    func closeAll() {
        let channels = state.withLock { state in
            state.shuttingDown = true
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
        finishIfEmpty()
    }

    /// Returns once shutting down and every connection has closed; cancellation ends the grace period at once (a
    /// second ``shutDown(grace:)``).
    func closed() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state in
                    guard !(state.shuttingDown && state.channels.isEmpty) else { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            shutDown(grace: .zero)
        }
    }

    /// Resumes whoever waits in ``closed()`` once shutting down and every connection has closed.
    private func finishIfEmpty() {
        let waiting = state.withLock { state in
            guard state.shuttingDown, state.channels.isEmpty else { return [CheckedContinuation<Void, Never>]() }
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}
