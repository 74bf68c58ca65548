import NIOCore
import PorterProtocol

/// Joins a `forward` channel to a TCP socket on the same event loop, both ways, as `ssh -L` joins a channel to
/// a socket (docs/design/protocol-2.md section 9): the server glues a channel to the connection it made to the
/// target, the client glues each connection accepted on its listener to a channel of its own.
///
/// Each side is read only while the other is writable, so each forwarded connection has its own back-pressure:
/// a socket that stops reading fills only its channel's window. End of input on either side is a half-close of
/// the other (eof on the channel, `shutdown(SHUT_WR)` on the socket, once what was written before has gone).
/// How the channel's result ends it differs by ``Role``.
enum ForwardGlue {
    /// Which end of the forward the glue is.
    enum Role {
        /// The server: once both directions have ended the channel gets `done {}` and closes; a failure of the
        /// target's connection is eof, `fail forward-error`, close.
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

    /// Adds the two handlers: `channel` (a Porter child channel) and `socket` must be on the same event loop, and
    /// `socket` must have `autoRead` off, half-closure allowed, and not have been read yet. The socket is read
    /// once the channel is active. `moved` is told of the bytes each read passes on (to the socket, to the
    /// channel); `ended` is called once, on the event loop, when both are closed.
    static func join(
        channel: any Channel, socket: any Channel, role: Role,
        moved: @escaping (_ toSocket: Int, _ toChannel: Int) -> Void = { _, _ in },
        ended: @escaping (Report) -> Void = { _ in }
    ) throws {
        channel.eventLoop.preconditionInEventLoop()
        precondition(channel.eventLoop === socket.eventLoop, "a forward's two ends share an event loop")
        try channel.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        let state = State(role: role, moved: moved, ended: ended)
        let channelEnd = ChannelEnd(state: state)
        let socketEnd = SocketEnd(state: state)
        state.channelEnd = channelEnd
        state.socketEnd = socketEnd
        try socket.pipeline.syncOperations.addHandler(socketEnd)
        try channel.pipeline.syncOperations.addHandler(channelEnd)
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

        /// Both directions have ended: on the server the channel's result; the client waits for the server's close.
        func checkBothEnded() {
            guard channelInputEnded, socketInputEnded, role == .server else { return }
            channelEnd?.finish(with: .done(.empty))
            socketEnd?.closeWhenWritten()
        }

        /// The socket failed (a reset, a failed write) before both directions ended.
        func socketFailed(_ error: any Error) {
            guard report.failure == nil else { return }
            report.failure = "\(error)"
            switch role {
            case .server:
                channelEnd?.finish(
                    with: .fail(ProtocolError(.forwardError, "the target's connection failed: \(error)")))
            case .client:
                channelEnd?.close()
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

        var isWritable: Bool { context?.channel.isWritable ?? false }

        func handlerAdded(context: ChannelHandlerContext) {
            self.context = context
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            self.context = nil
        }

        func read(context: ChannelHandlerContext) {
            guard reading else { return }
            if other?.isWritable ?? true {
                context.read()
            } else {
                readPending = true
            }
        }

        /// The other side became writable again.
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
            state.channelClosed = true
            state.socketEnd?.closeWhenWritten()
            state.closed()
            context.fireChannelInactive()
        }

        /// Writes socket bytes on the channel (flushed by ``flush()``).
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
        /// The last write, so that a half-close or a close waits for what was written before.
        private var lastWrite: EventLoopFuture<Void>?
        private var outputEnded = false

        override var other: (any Partner)? { state.channelEnd }
        override var reading: Bool { started }

        /// The channel is active: reading may begin, once the socket is active too. (A connection a listener
        /// accepted may still wait to be registered when the server's `accept` arrives; a read asked for before
        /// then would be lost.)
        func start() {
            guard let context, !started else { return }
            started = true
            if context.channel.isActive { beginReading(context) }
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
            state.channelEnd?.write(unwrapInboundIn(data))
        }

        override func inputEnded() {
            state.socketInputEnded = true
            state.channelEnd?.endOutput()
            state.checkBothEnded()
        }

        override func channelInactive(context: ChannelHandlerContext) {
            // A socket closed without an error ended as its peer meant it to (NIO closes a socket whose input ends
            // after its output, without an inputClosed event): on the server the channel gets its eof and `done`,
            // on the client the channel closes, since nobody is left to read it.
            state.socketClosed = true
            if state.report.failure == nil, !state.channelClosed {
                switch state.role {
                case .server: state.channelEnd?.finish(with: .done(.empty))
                case .client: state.channelEnd?.close()
                }
            }
            state.closed()
            context.fireChannelInactive()
        }

        override func errorCaught(context: ChannelHandlerContext, error: any Error) {
            state.socketFailed(error)
            context.close(promise: nil)
        }

        /// Writes channel bytes to the socket (flushed by ``flush()``).
        func write(_ bytes: ByteBuffer) {
            guard let context, !outputEnded else { return }
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.write(wrapOutboundOut(bytes), promise: promise)
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

        private func afterWrites(_ body: @escaping () -> Void) {
            guard let lastWrite else { return body() }
            lastWrite.assumeIsolated().whenComplete { _ in body() }
        }
    }
}
