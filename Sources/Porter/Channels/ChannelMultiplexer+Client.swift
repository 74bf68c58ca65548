import NIOCore
import PorterProtocol

/// A client's multiplexer: the handshake's outcome, opens and pings, each a promise the async side waits on.
extension ChannelMultiplexer {
    /// What a client's async side waits for, completed on the event loop.
    final class ClientWaits {
        /// The connection's event loop, which outlives the multiplexer's place in the pipeline.
        let eventLoop: any EventLoop
        /// The binding of the secure channel, once the server's certificate is known (empty on plaintext).
        let binding: () -> [UInt8]
        /// Seconds allowed for the handshake, as the user gave them (for the error message).
        let connectTimeout: Double
        /// What signs the handshake's key proof.
        let credentials: ClientCredentials
        /// Completed with the server's `welcome` when the server is authenticated.
        var handshake: EventLoopPromise<ClientChannels.Authenticated>?
        /// Opens waiting for `accept` or `refuse`, by channel id.
        var opening: [UInt32: EventLoopPromise<ChannelMessage.Accept>] = [:]
        /// Opens waiting for a free channel, in order.
        var queued = CircularBuffer<QueuedOpen>()
        /// Pings waiting for their `pong`, by id.
        var pings: [UInt64: EventLoopPromise<Void>] = [:]
        var nextPing: UInt64 = 1
        /// Global requests waiting for their answer, in the order sent (the server answers in that order).
        var globals = CircularBuffer<EventLoopPromise<Void>>()
        /// Global requests not sent yet while the server's `maxGlobalRequests` are unanswered, in order.
        var waitingGlobals = CircularBuffer<(ConnectionMessage.GlobalRequest.Request, EventLoopPromise<Void>)>()
        var nextGlobal: UInt64 = 1
        /// Why the connection ended, for whoever asks after it did.
        var ended: (any Error)?
        /// The grace the server gave when it announced `shutdown`, once it has.
        var shutdownGrace: Double?
        /// Told of the server's `shutdown`, once.
        var onShutdown: [(Double) -> Void] = []

        init(
            eventLoop: any EventLoop, binding: @escaping () -> [UInt8], connectTimeout: Double,
            credentials: ClientCredentials, handshake: EventLoopPromise<ClientChannels.Authenticated>
        ) {
            self.eventLoop = eventLoop
            self.binding = binding
            self.connectTimeout = connectTimeout
            self.credentials = credentials
            self.handshake = handshake
        }
    }

    /// Client: signs the handshake's key proof, then writes the `auth` that carries it.
    func sign(_ transcript: [UInt8], with key: SSHPublicKey, context: ChannelHandlerContext) {
        guard case .client(let waits) = role else { return }
        waits.credentials.sign(transcript, with: key, on: context.eventLoop).assumeIsolated().whenComplete {
            [self] result in
            guard !closed else { return }
            switch result {
            case .success(let signature):
                perform(machine.signed(signature), context: context)
            case .failure(let error):
                let message = (error as? PorterError)?.message ?? "\(error)"
                perform(machine.signingFailed(ProtocolError(.authFailed, message)), context: context)
            }
            context.flush()
        }
    }

    /// The server refused an open; the connection goes on.
    struct OpenRefused: Error {
        let error: ProtocolError
    }

    /// An open waiting for a free channel: the server's `maxChannels` are in use.
    struct QueuedOpen {
        /// Tries the open again: `false` while no channel is free.
        let attempt: () -> Bool
        /// Fails the open: the connection ended first.
        let fail: (any Error) -> Void
    }

    /// Client: opens a channel for `parameters`, granting the server `window` bytes. `initialize` sets up the
    /// child's pipeline before the `open` is written, so that nothing the server sends after `accept` is missed.
    /// While the server's `maxChannels` are in use the open waits, in order, for one to be free.
    ///
    /// - Returns: `initialize`'s result and the server's `accept` once the server accepted; fails with
    ///   ``OpenRefused`` if it refused, with ``shuttingDown`` once the server has announced `shutdown`, and with
    ///   the connection's error if the connection ends first.
    func open<Output: Sendable>(
        _ parameters: ChannelMessage.Open.Parameters, window: Int,
        initialize: @escaping (PorterChildChannel) throws -> Output
    ) -> EventLoopFuture<(Output, ChannelMessage.Accept)> {
        guard case .client(let waits) = role else { preconditionFailure("a server's multiplexer opens nothing") }
        let eventLoop = waits.eventLoop
        guard !closed, machine.isReady else {
            return eventLoop.makeFailedFuture(waits.ended ?? ChannelError.ioOnClosedChannel)
        }
        let promise = eventLoop.makePromise(of: (Output, ChannelMessage.Accept).self)
        let queued = QueuedOpen(
            attempt: { [self] in attemptOpen(parameters, window: window, initialize: initialize, promise: promise) },
            fail: { promise.fail($0) })
        if waits.queued.isEmpty, queued.attempt() { return promise.futureResult }
        waits.queued.append(queued)
        return promise.futureResult
    }

    /// Opens what waits, in order, as far as free channels allow.
    func openQueued() {
        guard case .client(let waits) = role else { return }
        while let first = waits.queued.first, first.attempt() {
            waits.queued.removeFirst()
        }
    }

    /// One try of ``open(_:window:initialize:)``: `false` if no channel is free, else `true` with `promise` on its
    /// way to completion.
    private func attemptOpen<Output: Sendable>(
        _ parameters: ChannelMessage.Open.Parameters, window: Int,
        initialize: (PorterChildChannel) throws -> Output, promise: EventLoopPromise<(Output, ChannelMessage.Accept)>
    ) -> Bool {
        guard let context, case .client(let waits) = role, !closed else {
            promise.fail(ChannelError.ioOnClosedChannel)
            return true
        }
        let opened: (id: UInt32, frame: Frame)
        do throws(ChannelStateMachine.Refusal) {
            opened = try machine.open(.init(window: window, parameters: parameters))
        } catch .tooManyChannels {
            return false
        } catch .shuttingDown {
            promise.fail(Self.shuttingDown)
            return true
        } catch .notAllowed {
            promise.fail(
                ProtocolError(.badRequest, "cannot open a '\(parameters.serviceName)' channel with this window"))
            return true
        } catch {
            promise.fail(waits.ended ?? ChannelError.ioOnClosedChannel)
            return true
        }
        let child = PorterChildChannel(id: opened.id, parent: context.channel, multiplexer: self)
        children[opened.id] = child
        let accepted = context.eventLoop.makePromise(of: ChannelMessage.Accept.self)
        waits.opening[opened.id] = accepted
        context.writeAndFlush(wrapOutboundOut(opened.frame), promise: nil)
        do {
            let output = try initialize(child)
            accepted.futureResult.map { (output, $0) }.cascade(to: promise)
        } catch {
            // The open is on its way: the channel closes once accepted (``accepted(_:on:)`` finds no one waiting).
            waits.opening[opened.id] = nil
            accepted.fail(error)
            promise.fail(error)
        }
        return true
    }

    /// Client: sends a `ping`; the future completes when its `pong` arrives.
    func ping() -> EventLoopFuture<Void> {
        guard case .client(let waits) = role else { preconditionFailure("a server's multiplexer opens nothing") }
        let eventLoop = waits.eventLoop
        guard let context, !closed, machine.isReady else {
            return eventLoop.makeFailedFuture(waits.ended ?? ChannelError.ioOnClosedChannel)
        }
        let id = waits.nextPing
        waits.nextPing += 1
        let promise = eventLoop.makePromise(of: Void.self)
        waits.pings[id] = promise
        context.writeAndFlush(wrapOutboundOut(ConnectionMessage.ping(.init(id: id)).frame), promise: nil)
        return promise.futureResult
    }

    /// Client: sends a global request; the future completes when the server answers `global.ok`, and fails with
    /// ``OpenRefused`` on `global.fail` (the connection goes on). While the server's `maxGlobalRequests` are
    /// unanswered, requests wait here and go in the order they were made.
    func global(_ request: ConnectionMessage.GlobalRequest.Request) -> EventLoopFuture<Void> {
        guard case .client(let waits) = role else { preconditionFailure("a server's multiplexer sends no requests") }
        guard context != nil, !closed else {
            return waits.eventLoop.makeFailedFuture(waits.ended ?? ChannelError.ioOnClosedChannel)
        }
        let promise = waits.eventLoop.makePromise(of: Void.self)
        waits.waitingGlobals.append((request, promise))
        sendWaitingGlobals()
        return promise.futureResult
    }

    /// Sends the waiting global requests, in order, as far as the server's `maxGlobalRequests` allow.
    private func sendWaitingGlobals() {
        guard case .client(let waits) = role, let context else { return }
        var sent = false
        while let (request, promise) = waits.waitingGlobals.first {
            do throws(ChannelStateMachine.Refusal) {
                let frame = try machine.send(global: .init(id: waits.nextGlobal, request: request))
                waits.waitingGlobals.removeFirst()
                waits.nextGlobal += 1
                waits.globals.append(promise)
                context.write(wrapOutboundOut(frame), promise: nil)
                sent = true
            } catch .notAllowed {
                break  // until an answer comes
            } catch {
                waits.waitingGlobals.removeFirst()
                promise.fail(waits.ended ?? ChannelError.ioOnClosedChannel)
            }
        }
        if sent { context.flush() }
    }

    // MARK: - The machine's client actions

    /// The server answered the oldest global request.
    func globalAnswered(_ id: UInt64, _ error: ProtocolError?) {
        guard case .client(let waits) = role, let promise = waits.globals.popFirst() else { return }
        if let error { promise.fail(OpenRefused(error: error)) } else { promise.succeed(()) }
        sendWaitingGlobals()
    }

    /// A client's: the grace the server gave when it announced `shutdown`, once it has.
    var shutdownGrace: Double? {
        guard case .client(let waits) = role else { return nil }
        return waits.shutdownGrace
    }

    /// A client's: why the connection ended, once it has.
    var endReason: (any Error)? {
        guard case .client(let waits) = role else { return nil }
        return waits.ended
    }

    /// What an open fails with once the server has announced `shutdown`.
    static let shuttingDown = PorterError(
        .connection, "the server is shutting down and opens no new channels", code: .shuttingDown)

    /// Calls `body` on the event loop when the server announces `shutdown`, with the grace it gives; at once if it
    /// has. Never if the connection ends first.
    func whenShutdownAnnounced(_ body: @escaping (Double) -> Void) {
        guard case .client(let waits) = role, !closed else { return }
        if let grace = waits.shutdownGrace {
            body(grace)
        } else {
            waits.onShutdown.append(body)
        }
    }

    /// The server announced `shutdown`: opens waiting for a free channel fail, and those who asked are told.
    func shutdownAnnounced(grace: Double) {
        guard case .client(let waits) = role, waits.shutdownGrace == nil else { return }
        waits.shutdownGrace = grace
        let queued = waits.queued
        waits.queued = []
        for open in queued { open.fail(Self.shuttingDown) }
        let told = waits.onShutdown
        waits.onShutdown = []
        for body in told { body(grace) }
    }

    /// The server is authenticated.
    /// The `pong` of ping `id` arrived.
    func pong(_ id: UInt64) {
        guard case .client(let waits) = role else { return }
        waits.pings.removeValue(forKey: id)?.succeed(())
    }

    /// The server accepted channel `id`.
    func accepted(_ accept: ChannelMessage.Accept, on id: UInt32) {
        guard case .client(let waits) = role, let child = children[id] else { return }
        child.activate(credit: UInt32(clamping: accept.window))
        if let promise = waits.opening.removeValue(forKey: id) {
            promise.succeed(accept)
        } else {
            child.close(promise: nil)
        }
    }

    /// The server refused channel `id`, which is free again.
    func refused(_ error: ProtocolError, on id: UInt32) {
        guard case .client(let waits) = role else { return }
        children.removeValue(forKey: id)?.closed(error: nil)
        waits.opening.removeValue(forKey: id)?.fail(OpenRefused(error: error))
        openQueued()
    }

    /// The connection ended with `error`: everything still waiting fails with it.
    func endWaits(_ error: any Error) {
        guard case .client(let waits) = role else { return }
        if waits.ended == nil { waits.ended = error }
        let handshake = waits.handshake
        let opening = waits.opening.values
        let pings = waits.pings.values
        let queued = waits.queued
        let globals = waits.globals + waits.waitingGlobals.map(\.1)
        waits.globals = []
        waits.waitingGlobals = []
        waits.handshake = nil
        waits.opening = [:]
        waits.pings = [:]
        waits.queued = []
        waits.onShutdown = []
        handshake?.fail(error)
        for promise in opening { promise.fail(error) }
        for promise in pings { promise.fail(error) }
        for open in queued { open.fail(error) }
        for promise in globals { promise.fail(error) }
    }

    /// The error a client's async side sees for `error`, which ended the connection: this side's own (`fromServer`
    /// false) or the server's. A server's multiplexer keeps `error` as it is.
    func reported(_ error: any Error, fromServer: Bool) -> any Error {
        guard case .client(let waits) = role else { return error }
        guard let error = error as? ProtocolError else {
            if error is PorterError { return error }
            return PorterError(.connection, "connection lost: \(PorterClient.describe(error))")
        }
        if machine.version == nil {
            if !fromServer, error.code == .authTimeout {
                return PorterClient.handshakeTimedOut(
                    seconds: waits.connectTimeout, answeredTLS: !waits.binding().isEmpty)
            }
            return PorterError(handshakeFailure: error)
        }
        if fromServer { return PorterError(remote: .init(error, fatal: true)) }
        return PorterError(.protocolViolation, "bad frame from the server: \(error.message)", code: error.code)
    }
}
