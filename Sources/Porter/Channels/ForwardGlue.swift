import NIOCore
import PorterProtocol

/// Joins a `forward` channel to a TCP socket on the same event loop, both ways, as `ssh -L` joins a channel to
/// a socket (docs/PROTOCOL.md section 5.4.7): the server glues a channel to the connection it made to the
/// target, the client glues each connection accepted on its listener to a channel of its own.
///
/// Each side is read only while the other is writable, so each forwarded connection has its own back-pressure:
/// a socket that stops reading fills only its channel's window. End of input on either side is a half-close of
/// the other (eof on the channel, `shutdown(SHUT_WR)` on the socket, once what was written before has gone).
/// Once one side is closed, what the other still reads is discarded, so that neither waits for the other.
/// How the channel's result ends it differs by ``Role``.
enum ForwardGlue {
    /// Which end of the forward the glue is.
    enum Role {
        /// The server: once both directions have ended the channel gets `done {}` and closes; a failure of the
        /// target's connection (a reset, a failed write) is eof, `fail forward-error`, close.
        case server
        /// The client: the server ends the channel; its close closes the socket, once written.
        case client
    }

    /// What the forward carried when it ended, and how it ended.
    struct Report: Sendable {
        /// Bytes from the channel to the socket, and from the socket to the channel.
        var toSocket = 0
        var toChannel = 0
        /// Why it ended early, if it did: a failure of the socket, or the server's `fail`.
        var failure: String?
    }

    /// The socket's half of a forward, added as soon as the socket exists: what the socket brings in before the
    /// channel is there (a peer that sends and closes while an open waits for a free channel, which NIO reads
    /// to its end even unasked) is kept for the channel.
    final class Pending {
        fileprivate let state: State

        fileprivate init(state: State) {
            self.state = state
        }

        /// The channel never came (the server refused it): the socket's half lets go of it.
        func abandon() {
            state.channelEnd = nil
            state.socketEnd = nil
        }
    }

    /// Adds the socket's handler. `socket` must have `autoRead` off and half-closure allowed; it is read once
    /// the channel given to ``attach(_:to:)`` is active. `moved` is told of the bytes each read passes on (to the
    /// socket, to the channel); `ended` is called once, on the event loop, when both are closed.
    static func prepare(
        socket: any Channel, role: Role,
        moved: @escaping (_ toSocket: Int, _ toChannel: Int) -> Void = { _, _ in },
        ended: @escaping (Report) -> Void = { _ in }
    ) throws -> Pending {
        socket.eventLoop.preconditionInEventLoop()
        let state = State(role: role, moved: moved, ended: ended)
        let socketEnd = SocketEnd(state: state)
        state.socketEnd = socketEnd
        try socket.pipeline.syncOperations.addHandler(socketEnd)
        return Pending(state: state)
    }

    /// Adds the channel's handler to `channel` (a Porter child channel on the socket's event loop).
    static func attach(_ pending: Pending, to channel: any Channel) throws {
        channel.eventLoop.preconditionInEventLoop()
        let state = pending.state
        try channel.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        let channelEnd = ChannelEnd(state: state)
        state.channelEnd = channelEnd
        try channel.pipeline.syncOperations.addHandler(channelEnd)
        // A channel that closes without ever being active fires no channelInactive; its close future always
        // completes.
        channel.closeFuture.assumeIsolated().whenComplete { _ in channelEnd.gone() }
    }

    /// ``prepare(socket:role:moved:ended:)`` and ``attach(_:to:)`` at once, for a socket and channel both there.
    static func join(
        channel: any Channel, socket: any Channel, role: Role,
        moved: @escaping (_ toSocket: Int, _ toChannel: Int) -> Void = { _, _ in },
        ended: @escaping (Report) -> Void = { _ in }
    ) throws {
        precondition(channel.eventLoop === socket.eventLoop, "a forward's two ends share an event loop")
        try attach(prepare(socket: socket, role: role, moved: moved, ended: ended), to: channel)
    }

    /// What both handlers share; used on the event loop only.
    fileprivate final class State {
        let role: Role
        let moved: (Int, Int) -> Void
        let ended: (Report) -> Void
        var channelEnd: ChannelEnd?
        var socketEnd: SocketEnd?
        var report = Report()
        /// The channel's peer sent eof, and the socket's peer ended its input.
        var channelInputEnded = false
        var socketInputEnded = false
        var channelClosed = false
        var socketClosed = false
        var reported = false

        init(role: Role, moved: @escaping (Int, Int) -> Void, ended: @escaping (Report) -> Void) {
            self.role = role
            self.moved = moved
            self.ended = ended
        }

        var bothEnded: Bool { channelInputEnded && socketInputEnded }

        /// Both directions have ended: on the server the channel's result; the client waits for the server's close.
        func checkBothEnded() {
            guard bothEnded, role == .server else { return }
            channelEnd?.finish(with: .done(.empty))
            socketEnd?.closeWhenWritten()
        }

        /// The socket failed (a reset, a failed write).
        func socketFailed(_ error: any Error) {
            guard report.failure == nil, !channelClosed else { return }
            report.failure = "\(error)"
            switch role {
            case .server:
                channelEnd?.finish(
                    with: .fail(ProtocolError(.forwardError, "the target's connection failed: \(error)")))
            case .client:
                channelEnd?.close()
            }
        }

        /// The socket closed without an error, before or after the channel came.
        func socketClosedCleanly() {
            guard report.failure == nil, !channelClosed, let channelEnd else { return }
            switch role {
            case .server:
                // The target has gone: eof, `done`, close (its input counts as ended).
                channelEnd.finish(with: .done(.empty))
            case .client where channelInputEnded:
                // NIO closes a socket whose input ends after its output without an inputClosed event: this is
                // that end of input. The server then ends the channel.
                if !socketInputEnded {
                    socketInputEnded = true
                    channelEnd.endOutput()
                }
            case .client:
                channelEnd.close()
            }
        }

        func closed() {
            guard channelClosed, socketClosed, !reported else { return }
            reported = true
            let report = self.report
            channelEnd = nil
            socketEnd = nil
            ended(report)
        }
    }

    /// What one end asks of the other.
    fileprivate protocol Partner: AnyObject {
        /// Whether it takes more now; a closed end takes (and discards) everything.
        var isWritable: Bool { get }
        func resumeReading()
        func flush()
        func endOutput()
    }

    /// What both handlers do alike: each reads its side only while the other side is writable, flushes the other
    /// side after each read, and passes its end of input on as the other side's.
    fileprivate class End<Unit>: ChannelDuplexHandler, Partner {
        typealias InboundIn = Unit
        typealias OutboundIn = Unit
        typealias OutboundOut = Unit

        let state: State
        private(set) var context: ChannelHandlerContext?
        private var readPending = false

        init(state: State) {
            self.state = state
        }

        /// The other end.
        var other: (any Partner)? { nil }
        /// Whether reading has begun.
        var reading: Bool { true }
        /// This side's input ended.
        func inputEnded() {}

        var isWritable: Bool { context?.channel.isWritable ?? true }

        func handlerAdded(context: ChannelHandlerContext) {
            self.context = context
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            self.context = nil
            other?.resumeReading()
        }

        func read(context: ChannelHandlerContext) {
            guard reading else { return }
            if other?.isWritable ?? true {
                context.read()
            } else {
                readPending = true
            }
        }

        /// The other side became writable again, or closed.
        func resumeReading() {
            guard let context, readPending else { return }
            readPending = false
            context.read()
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable { other?.resumeReading() }
            context.fireChannelWritabilityChanged()
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            other?.flush()
            context.fireChannelReadComplete()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard case .inputClosed = event as? ChannelEvent else {
                context.fireUserInboundEventTriggered(event)
                return
            }
            inputEnded()
        }

        func flush() {
            context?.flush()
        }

        func endOutput() {}

        // Declared here so that each end's own versions are what NIO calls (a protocol's witness is the class's
        // method, which a subclass overrides, never a method a subclass adds).
        func channelActive(context: ChannelHandlerContext) {
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

        func channelInactive(context: ChannelHandlerContext) {
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    /// The handler on the Porter channel.
    fileprivate final class ChannelEnd: End<ChannelContent> {
        private var finishing = false

        override var other: (any Partner)? { state.socketEnd }

        override func handlerAdded(context: ChannelHandlerContext) {
            super.handlerAdded(context: context)
            if context.channel.isActive { state.socketEnd?.start() }
        }

        override func channelActive(context: ChannelHandlerContext) {
            state.socketEnd?.start()
            context.fireChannelActive()
        }

        override func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .data(_, let bytes):
                state.report.toSocket += bytes.readableBytes
                state.moved(bytes.readableBytes, 0)
                state.socketEnd?.write(bytes)
            case .message(.fail(let error)) where state.role == .client:
                state.report.failure = "server: \(TerminalText.escaped(error.message))"
            case .message:
                // `done` on the client; the state machine lets no other message of the peer reach a forward.
                break
            }
        }

        override func inputEnded() {
            state.channelInputEnded = true
            state.socketEnd?.endOutput()
            state.checkBothEnded()
        }

        override func channelInactive(context: ChannelHandlerContext) {
            gone()
            context.fireChannelInactive()
        }

        /// The channel is closed, active or not: the socket closes too, at once unless both directions ended
        /// (then once what was written to it has gone).
        func gone() {
            guard !state.channelClosed else { return }
            state.channelClosed = true
            if state.bothEnded {
                state.socketEnd?.closeWhenWritten()
            } else {
                state.socketEnd?.close()
            }
            state.socketEnd?.channelGone()
            state.closed()
        }

        /// Writes socket bytes on the channel (flushed by ``flush()``); dropped once the channel is closed.
        func write(_ bytes: ByteBuffer) {
            state.report.toChannel += bytes.readableBytes
            state.moved(0, bytes.readableBytes)
            context?.write(wrapOutboundOut(.data(.main, bytes)), promise: nil)
        }

        /// The socket's input ended: eof on the channel.
        override func endOutput() {
            guard let context, !finishing else { return }
            context.flush()
            context.close(mode: .output, promise: nil)
        }

        /// Server: eof (if not sent yet), `message`, then close.
        func finish(with message: ChannelMessage) {
            guard let context, !finishing else { return }
            finishing = true
            context.flush()
            let channel = context.channel
            channel.close(mode: .output).assumeIsolated().whenComplete { _ in
                channel.writeAndFlush(ChannelContent.message(message)).assumeIsolated().whenComplete { _ in
                    channel.close(promise: nil)
                }
            }
        }

        func close() {
            context?.close(promise: nil)
        }
    }

    /// The handler on the TCP socket.
    fileprivate final class SocketEnd: End<ByteBuffer> {
        private var started = false
        /// What the socket brought in before the channel was active: NIO reads a socket to its end when its peer
        /// closes, asked or not.
        private var held: [ByteBuffer] = []
        private var inputEndedEarly = false
        private var closedEarly = false
        /// The last write, so that a half-close or a close waits for what was written before.
        private var lastWrite: EventLoopFuture<Void>?
        private var outputEnded = false

        override var other: (any Partner)? { state.channelEnd }
        override var reading: Bool { started }

        /// The channel is active: reading may begin, once the socket is active too. (A connection a listener
        /// accepted may still wait to be registered when the server's `accept` arrives; a read asked for before
        /// then would be lost.) What came in before is passed on first.
        func start() {
            guard !started else { return }
            started = true
            for bytes in held { state.channelEnd?.write(bytes) }
            held = []
            state.channelEnd?.flush()
            if inputEndedEarly { inputEnded() }
            if closedEarly {
                finishClose()
            } else if let context, context.channel.isActive {
                beginReading(context)
            }
        }

        override func channelActive(context: ChannelHandlerContext) {
            if started { beginReading(context) }
            context.fireChannelActive()
        }

        private func beginReading(_ context: ChannelHandlerContext) {
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
            context.read()
        }

        override func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            if started {
                state.channelEnd?.write(bytes)
            } else {
                held.append(bytes)
            }
        }

        override func inputEnded() {
            guard started else {
                inputEndedEarly = true
                return
            }
            state.socketInputEnded = true
            state.channelEnd?.endOutput()
            state.checkBothEnded()
        }

        override func channelInactive(context: ChannelHandlerContext) {
            // Before the channel is active, the close waits for it, unless there is no channel to wait for.
            if started || state.channelClosed {
                finishClose()
            } else {
                closedEarly = true
            }
            context.fireChannelInactive()
        }

        /// The channel closed; a close that waited for it is finished now.
        func channelGone() {
            if closedEarly { finishClose() }
        }

        /// The socket is closed: the channel ends as the way it closed says. (A failure before the channel came
        /// could not close it then.)
        private func finishClose() {
            guard !state.socketClosed else { return }
            state.socketClosed = true
            if state.report.failure == nil {
                state.socketClosedCleanly()
            } else if state.role == .client {
                state.channelEnd?.close()
            }
            state.closed()
        }

        override func errorCaught(context: ChannelHandlerContext, error: any Error) {
            state.socketFailed(error)
            context.close(promise: nil)
        }

        /// Writes channel bytes to the socket (flushed by ``flush()``); dropped once it is closed or its output
        /// ended. A failed write fails the forward.
        func write(_ bytes: ByteBuffer) {
            guard let context, !outputEnded else { return }
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.write(wrapOutboundOut(bytes), promise: promise)
            let state = self.state
            promise.futureResult.assumeIsolated().whenFailure { error in state.socketFailed(error) }
            lastWrite = promise.futureResult
        }

        /// The channel's input ended: `shutdown(SHUT_WR)` once what was written has gone.
        override func endOutput() {
            guard let context, !outputEnded else { return }
            outputEnded = true
            context.flush()
            let channel = context.channel
            afterWrites { channel.close(mode: .output, promise: nil) }
        }

        /// Closes the socket once what was written has gone.
        func closeWhenWritten() {
            guard let context else { return }
            context.flush()
            let channel = context.channel
            afterWrites { channel.close(promise: nil) }
        }

        /// Closes the socket now, whatever is still to be written.
        func close() {
            context?.close(promise: nil)
        }

        private func afterWrites(_ body: @escaping () -> Void) {
            guard let lastWrite else { return body() }
            lastWrite.assumeIsolated().whenComplete { _ in body() }
        }
    }
}
