import Logging
import NIOCore
import PorterProtocol

/// The last handler of a native connection: it drives the connection's ``ConnectionStateMachine`` with every
/// frame, carries out its actions on the event loop, and holds a ``PorterChildChannel`` for each channel in use
/// (docs/design/protocol-2.md section 8.2, after swift-nio-ssh's `SSHChannelMultiplexer`).
///
/// Keepalive, ping, the idle timeout, windows and every channel's rules are the state machine's; this handler
/// only moves frames between it, the connection and the children. A channel's data reaches its child's pipeline
/// with no task in between, and the child's writes leave as data frames within the peer's credit.
///
/// It serves both ends and is in the pipeline from the start. On a server it runs the handshake
/// (``ConnectionStateMachine/init(server:timeouts:)``) under the authentication deadline, which starts when the
/// connection does, before any TLS handshake; then ``ChannelServices`` answer the client's opens. Only a decision
/// (a policy check, a file open, a connect) leaves the event loop, so an authenticated connection that is doing
/// nothing costs its pipeline and no more. On a client it runs the handshake
/// (``ConnectionStateMachine/init(client:timeouts:)``), then opens channels and sends pings for
/// ``ClientConnection`` (``ChannelMultiplexer+Client.swift``).
final class ChannelMultiplexer: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = Frame
    typealias OutboundOut = Frame

    /// What the end of the connection this multiplexer serves needs.
    enum Role {
        /// A server's: the services that answer opens.
        case server(ChannelServices)
        /// A client's: what the async side waits for.
        case client(ClientWaits)
    }

    var machine: ConnectionStateMachine
    var role: Role
    private let baseLogger: Logger
    /// A server's logger with the client's address, made when first needed: an idle connection keeps none.
    private var peerLogger: Logger?
    var children: [UInt32: PorterChildChannel] = [:]
    /// A server's: whether the connection counts as busy (a channel is open), as last reported.
    private var busy = false
    var context: ChannelHandlerContext?
    /// The state machine's one timer (``handleScheduledCallback(eventLoop:)``): a callback rather than a task, as
    /// it costs no promise, future or closure while it waits, which on an idle connection is all the time.
    private var timer: NIOScheduledCallback?
    private(set) var closed = false
    /// A read held back while the connection is not writable.
    private var readPending = false
    /// Between a read's first frame and its `channelReadComplete`, which flushes: the children's flushes wait for
    /// that one (as swift-nio-http2's multiplexer holds its streams' flushes), so that what all the read's frames
    /// produced leaves in one write, and the connection is flushed once per read rather than once per channel.
    private var reading = false
    /// A server's: the last global request delivered, which the next one runs after.
    private var lastGlobal: EventLoopFuture<Void>?
    /// A server's with an audit trail: each open channel's operation, until the channel ends.
    private var audits: [UInt32: OperationAudit] = [:]

    /// How long the error frame of a failed connection may take to leave before the connection closes regardless:
    /// before the TLS handshake has completed, the write cannot.
    static let closeGrace = TimeAmount.milliseconds(500)

    /// A server's multiplexer, added when the connection is accepted: `machine` runs the handshake, `services`
    /// answer the client's opens.
    init(server machine: ConnectionStateMachine, services: ChannelServices, logger: Logger) {
        self.machine = machine
        self.role = .server(services)
        self.baseLogger = logger
    }

    /// A client's multiplexer, added before the connection is active: it sends `hello` when it is, and completes
    /// `waits.handshake` when the server is authenticated.
    init(client machine: ConnectionStateMachine, waits: ClientWaits, logger: Logger) {
        self.machine = machine
        self.role = .client(waits)
        self.baseLogger = logger
    }

    /// The logger: on a server, with the client's address (`connection.peer`).
    private var logger: Logger {
        guard case .server = role, let channel = context?.channel else { return baseLogger }
        if let peerLogger { return peerLogger }
        var logger = baseLogger
        logger[metadataKey: "connection.peer"] = "\(channel.remoteAddress.map { "\($0)" } ?? "unix")"
        peerLogger = logger
        return logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        guard case .server = role else { return }
        if baseLogger.logLevel <= .debug { logger.debug("accepted") }
        // The deadline starts when the connection does, before any TLS handshake.
        if context.channel.isActive { perform(machine.activated(now: .now()), context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        endChannels(ChannelError.eof)
        // A connection that never became active (its connect failed) ends here.
        endWaits(PorterError(.connection, "the connection closed"))
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(machine.activated(now: .now()), context: context)
        context.flush()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .client(let waits) = role, !machine.isReady {
            // Any answer comes through TLS, so the server's certificate, and with it the binding, is known.
            machine.setBinding(waits.binding())
        }
        reading = true
        perform(machine.received(unwrapInboundIn(data), now: .now()), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        context.flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Read again for each child: one child's handler may write and flush when told, and so change the
        // connection's writability while the others are still to be told.
        for child in children.values { child.parentWritabilityChanged(context.channel.isWritable) }
        if context.channel.isWritable, readPending {
            readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    /// A server reads only while the connection is writable. Channel data is held back by the peer's windows, but
    /// what the connection answers by itself (pongs, window frames, refusals, global answers) is not: a client
    /// that sends and never reads stops being read once the socket's buffer and NIO's high-water mark are full,
    /// rather than making the server queue answers without end.
    ///
    /// A client always reads. If both ends held their reads while their own writes waited, a channel carrying
    /// data both ways at once (`cat` with a large input) would stop both: each end's writes would wait for the
    /// other to read. What a server sends a client is bounded by the windows the client granted and by the
    /// requests it made.
    func read(context: ChannelHandlerContext) {
        if case .client = role {
            context.read()
        } else if context.channel.isWritable {
            context.read()
        } else {
            readPending = true
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Frames decoded at the input's end come without a `channelReadComplete`: what they produced goes now.
        if reading {
            reading = false
            context.flush()
        }
        guard let shutdown = event as? ServerShutdown else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        perform(machine.shutDown(grace: shutdown.grace, now: .now()), context: context)
        // A service that never ends by itself (a chat membership) ends now rather than hold the grace period.
        for child in children.values { child.pipeline.syncOperations.fireUserInboundEventTriggered(shutdown) }
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        reading = false
        closed = true
        machine.closed()
        if case .server(let services) = role { services.memoryFreed() }
        // A server's channels simply end; a client's users learn that the connection went, not that their
        // channel was closed.
        let error: any Error =
            if case .client = role { PorterError(.connection, "the server closed the connection") } else {
                ChannelError.eof
            }
        endChannels(error)
        endWaits(error)
        context.fireChannelInactive()
    }

    /// Carries out the state machine's actions, in order.
    func perform(_ actions: ConnectionStateMachine.Actions, context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .write(let message):
                context.write(wrapOutboundOut(message.frame), promise: nil)
            case .send(let frame):
                context.write(wrapOutboundOut(frame), promise: nil)
            case .switchForm:
                context.triggerUserOutboundEvent(FrameForm.channels, promise: nil)
            case .sign(let key, let transcript):
                sign(transcript, with: key, context: context)
            case .authAttempt(let attempt):
                if case .server(let services) = role { services.audit?.record(attempt) }
            case .authenticated:
                authenticated(context: context)
            case .pong(let id):
                pong(id)
            case .global(let request):
                runGlobal(request, context: context)
            case .globalAnswered(let id, let error):
                globalAnswered(id, error)
            case .shutdownAnnounced(let grace):
                shutdownAnnounced(grace: grace)
            case .channel(let id, let event):
                handle(event, on: id, context: context)
            case .scheduleTimer(let at):
                timer?.cancel()
                // It fails only when the event loop is shutting down, and every connection with it.
                timer = try? context.eventLoop.assumeIsolated().scheduleCallback(at: at, handler: self)
            case .cancelTimer:
                timer?.cancel()
                timer = nil
            case .fail(let error):
                fail(context: context, error)
            case .end(let error):
                end(context: context, error)
            }
        }
    }

    /// What happened on channel `id`, for its child.
    private func handle(_ event: ChannelStateMachine.Action, on id: UInt32, context: ChannelHandlerContext) {
        switch event {
        case .openRequested(let open):
            // The server's: a client's table refuses the server's opens.
            guard case .server(let services) = role else { return }
            let child = PorterChildChannel(id: id, parent: context.channel, multiplexer: self)
            children[id] = child
            reportBusy()
            if let audit = services.audit {
                audits[id] = OperationAudit(
                    connection: audit, channel: id, open: open,
                    forcedCommand: services.scope?.entry.options.forcedCommand)
            }
            let decision = services.open(
                open, on: child, limits: machine.channelLimits, client: machine.clientFrameLimits)
            decision.hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] result in
                decided(result, open: open, child: child, context: context)
            }
        case .accepted(let accept):
            accepted(accept, on: id)
        case .refused(let error):
            refused(error, on: id)
        case .deliver(.data(let stream, let bytes)):
            if !audits.isEmpty { audits[id]?.received(data: bytes.readableBytes) }
            children[id]?.receive(.data(stream, bytes))
        case .deliver(.message(let message)):
            if !audits.isEmpty { audits[id]?.received(message) }
            children[id]?.receive(.message(message))
        case .deliver(.eof):
            children[id]?.receiveEOF()
        case .creditChanged(let credit):
            children[id]?.creditChanged(credit)
        case .channelFailed(let error):
            if baseLogger.logLevel <= .debug { logger.debug("channel \(id) failed: \(error.message)") }
            let child = children.removeValue(forKey: id)
            child?.closed(error: error)
            endAudit(of: id, child: child, error)
            reportBusy()
            openQueued()
        case .closed:
            let child = children.removeValue(forKey: id)
            child?.closed(error: nil)
            endAudit(of: id, child: child, nil)
            reportBusy()
            openQueued()
        case .write, .fail:
            // What the machine hands on as connection actions.
            break
        }
    }

    /// A server's: runs a global request after those before it, then answers it (section 4.4: in order, one at a
    /// time). Once the server is shutting down, a request's turn fails it with `shutting-down` instead.
    private func runGlobal(_ request: ConnectionMessage.GlobalRequest, context: ChannelHandlerContext) {
        guard case .server(let services) = role else { return }
        let eventLoop = context.eventLoop
        let started = NIODeadline.now()
        let before = lastGlobal ?? eventLoop.makeSucceededVoidFuture()
        let done = before.assumeIsolated().flatMap { [self] () -> EventLoopFuture<Void> in
            guard !machine.isShuttingDown else {
                return eventLoop.makeFailedFuture(
                    ProtocolError(.shuttingDown, "the server is shutting down and takes no more requests"))
            }
            return services.global(request.request, on: eventLoop)
        }.nonisolated()
            .hop(to: eventLoop).assumeIsolated()
            .map { nil as ProtocolError? }
            .recover { error in
                error as? ProtocolError ?? ProtocolError(.internal, "the server could not carry out the request")
            }
            .map { [self] error -> Void in
                services.audit?.record(request.request, error: error, since: started)
                guard !closed, let frame = machine.answer(global: request.id, error: error) else { return }
                context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
            }
            .nonisolated()
        lastGlobal = done
    }

    /// The handshake succeeded: a server's admission counts the connection as authenticated, a client's async side
    /// gets the `welcome`.
    private func authenticated(context: ChannelHandlerContext) {
        switch role {
        case .server(let services):
            // A handshake that succeeds always names who; without it the connection gets nothing, rather than
            // the token's rights.
            guard let principal = machine.principal else {
                fail(
                    context: context, ProtocolError(.internal, "the server cannot tell who the client authenticated as")
                )
                return
            }
            role = .server(services.authenticated(as: principal))
            context.triggerUserOutboundEvent(ConnectionGate.Authenticated(), promise: nil)
            services.memoryFreed()
            if baseLogger.logLevel <= .info {
                logger.info("authenticated", metadata: ["auth.principal": "\(principal.description)"])
            }
        case .client(let waits):
            guard let welcome = machine.welcome else { return }
            waits.handshake?.succeed(.init(welcome: welcome, key: machine.acceptedKey))
            waits.handshake = nil
        }
    }

    /// A service's answer to the open of `child`'s channel.
    private func decided(
        _ result: Result<ChannelMessage.Accept, any Error>, open: ChannelMessage.Open, child: PorterChildChannel,
        context: ChannelHandlerContext
    ) {
        guard !closed, children[child.id] === child else { return }
        switch result {
        case .success(let accept):
            audits[child.id]?.accepted(accept)
            do {
                for action in try machine.accept(channel: child.id, accept) {
                    if case .write(let frame) = action { context.write(wrapOutboundOut(frame), promise: nil) }
                }
            } catch {
                endAudit(of: child.id, child: nil, nil)
                children.removeValue(forKey: child.id)
                reportBusy()
                child.closed(error: ChannelError.ioOnClosedChannel)
                return
            }
            // The client's open granted the server its credit.
            child.activate(credit: UInt32(clamping: open.window))
        case .failure(let error):
            let refusal =
                error as? ProtocolError ?? ProtocolError(.internal, "the server could not open the channel")
            audits.removeValue(forKey: child.id)?.refused(refusal)
            children.removeValue(forKey: child.id)
            reportBusy()
            let actions = (try? machine.refuse(channel: child.id, refusal)) ?? .init()
            child.closed(error: nil)
            perform(actions, context: context)
        }
        context.flush()
    }

    /// Ends every child: the connection is gone.
    private func endChannels(_ error: any Error) {
        timer?.cancel()
        timer = nil
        let ended = children
        children = [:]
        reportBusy()
        for child in ended.values { child.closed(error: error) }
        for id in audits.keys { endAudit(of: id, child: ended[id], error as? ProtocolError) }
    }

    /// Writes the last line of channel `id`'s operation, which ended without a result. Called after `child` (if
    /// any) has closed: an upload it abandoned is then not put in place behind the line, and one whose rename had
    /// begun is recorded as in place.
    private func endAudit(of id: UInt32, child: PorterChildChannel?, _ error: ProtocolError?) {
        audits.removeValue(forKey: id)?.ended(error, uploaded: child?.upload?.isInPlace ?? false)
    }

    /// A server's: tells the services when the connection gets its first channel or loses its last.
    private func reportBusy() {
        guard case .server(let services) = role, busy == children.isEmpty else { return }
        busy = !children.isEmpty
        services.connection(busy: busy)
    }

    /// Sends `error` as a fatal `error` message if it is a protocol error, and closes the connection.
    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        guard close(error, fromServer: false) else { return }
        guard let error = error as? ProtocolError else {
            logger.debug("connection ended: \(error)")
            context.close(promise: nil)
            return
        }
        if case .server = role { ServerConnection.logClosing(error, logger: logger) }
        let frame = ConnectionMessage.error(.init(error, fatal: true)).frame
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeGrace) {
            context.close(promise: nil)
        }
    }

    /// Closes the connection without a word: the peer ended it with `error`, or a client's handshake failed.
    private func end(context: ChannelHandlerContext, _ error: ProtocolError) {
        guard close(error, fromServer: true) else { return }
        context.close(promise: nil)
    }

    /// Marks the connection closed and ends its channels and waits with `error`; `false` if it already was.
    private func close(_ error: any Error, fromServer: Bool) -> Bool {
        guard !closed else { return false }
        closed = true
        machine.closed()
        let reported = reported(error, fromServer: fromServer)
        endChannels(reported)
        endWaits(reported)
        return true
    }
}

extension ChannelMultiplexer: NIOScheduledCallbackHandler {
    /// The timer the state machine asked for fired.
    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer = nil
        guard let context else { return }
        perform(machine.deadlineReached(now: .now()), context: context)
        context.flush()
    }
}

extension ChannelMultiplexer: ChildChannelParent {
    func write(channel id: UInt32, data: inout ByteBuffer, on stream: Frame.Stream, promise: EventLoopPromise<Void>?)
        throws(ChannelStateMachine.Refusal) -> Bool
    {
        guard let context else { throw .closed }
        if !audits.isEmpty, let audit = audits[id] {
            let original = data
            defer {
                let taken = original.readableBytes - data.readableBytes
                if taken > 0, let sent = original.getSlice(at: original.readerIndex, length: taken) {
                    audit.sent(sent, on: stream)
                }
            }
            return try write(frames: context, channel: id, data: &data, on: stream, promise: promise)
        }
        return try write(frames: context, channel: id, data: &data, on: stream, promise: promise)
    }

    /// Writes `data` as data frames within the peer's credit; `true` if it wrote any.
    private func write(
        frames context: ChannelHandlerContext, channel id: UInt32, data: inout ByteBuffer, on stream: Frame.Stream,
        promise: EventLoopPromise<Void>?
    ) throws(ChannelStateMachine.Refusal) -> Bool {
        // Each frame is written once the next is known, so that the last can carry the promise.
        var last: Frame?
        do {
            while let frame = try machine.send(channel: id, data: &data, on: stream) {
                if let last { context.write(wrapOutboundOut(last), promise: nil) }
                last = frame
            }
        } catch {
            // The state machine counted the frame before as sent.
            if let last { context.write(wrapOutboundOut(last), promise: nil) }
            throw error
        }
        guard let last else { return false }
        context.write(wrapOutboundOut(last), promise: data.readableBytes == 0 ? promise : nil)
        return true
    }

    func write(channel id: UInt32, message: ChannelMessage, payload: ByteBuffer?, promise: EventLoopPromise<Void>?)
        throws(ChannelStateMachine.Refusal)
    {
        guard let context else { throw .closed }
        let frame = try machine.send(channel: id, message, payload: payload)
        // The operation's line goes out before its result does.
        if !audits.isEmpty { audits[id]?.finishing(with: message) }
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    func writeEOF(channel id: UInt32) {
        guard let context, let frame = try? machine.sendEOF(channel: id) else { return }
        context.write(wrapOutboundOut(frame), promise: nil)
    }

    func writeClose(channel id: UInt32) {
        guard let context, let frame = try? machine.sendClose(channel: id) else { return }
        context.write(wrapOutboundOut(frame), promise: nil)
    }

    func flushConnection() {
        // Within a read, the flush at its end carries this one.
        if !reading { context?.flush() }
    }

    func consumed(channel id: UInt32, bytes: Int) {
        guard let context, let frame = machine.consumed(channel: id, bytes: bytes) else { return }
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }
}
