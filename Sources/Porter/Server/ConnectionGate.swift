import Logging
import NIOCore
import PorterProtocol

/// The first handler of every server connection, in front of TLS.
///
/// It registers the connection with the server's ``Admission``: refused (one plaintext `server-busy` frame, then
/// close), admitted, or held back — not read, and invisible to the handlers behind it — until a handshake slot
/// frees up or its deadline passes. It gives the slot back when the connection authenticates (the
/// ``Authenticated`` event) or closes. Once authenticated it leaves the pipeline, leaving only a callback on the
/// channel's close future that counts the close, so an idle connection does not keep it. It also checks the
/// client's first byte against the listener's transport: a plaintext client on a TLS listener, or a TLS client on
/// a plaintext one, gets one plaintext `error` frame saying what to do, and the connection closes instead of
/// hanging.
final class ConnectionGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Sent down the pipeline once the handshake has succeeded.
    struct Authenticated: Sendable {}

    /// The most a held-back connection may send before it is admitted (a TLS ClientHello is far smaller).
    static let maxHeldBytes = 16 * 1024

    private enum State {
        case new
        case waiting(ticket: UInt64, source: String, held: [NIOAny], heldBytes: Int)
        case unauthenticated(source: String)
        /// The close future counts the close.
        case authenticated
        case closed
    }

    private let expectsTLS: Bool
    private let admission: Admission
    private let waitLimit: TimeAmount
    private let logger: Logger
    private var state = State.new
    private var source = "local"
    private var waitDeadline: Scheduled<Void>?
    private var checkedFirstByte = false
    private var refused = false

    init(expectsTLS: Bool, admission: Admission, waitLimit: TimeAmount, logger: Logger) {
        self.expectsTLS = expectsTLS
        self.admission = admission
        self.waitLimit = waitLimit
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arrive(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arrive(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        waitDeadline?.cancel()
        switch state {
        case .waiting(let ticket, _, _, _):
            admission.stopWaiting(ticket: ticket)
            admission.closed()
        case .unauthenticated(let source):
            admission.releaseSlot(source: source)
            admission.closed()
        case .new, .authenticated, .closed:
            break
        }
        state = .closed
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        if case .waiting(let ticket, let source, var held, let heldBytes) = state {
            let bytes = heldBytes + unwrapInboundIn(data).readableBytes
            guard bytes <= Self.maxHeldBytes else {
                refuse(context: context, ProtocolError(.badFrame, "too much sent before the handshake could start"))
                return
            }
            held.append(data)
            state = .waiting(ticket: ticket, source: source, held: held, heldBytes: bytes)
            return
        }
        if !checkedFirstByte {
            let buffer = unwrapInboundIn(data)
            guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
            checkedFirstByte = true
            let isTLS = first == TransportSecurity.tlsHandshakeRecord
            if isTLS != expectsTLS {
                refuse(
                    context: context,
                    expectsTLS
                        ? ProtocolError(.tlsRequired, "this server requires TLS; connect without --plaintext")
                        : ProtocolError(
                            .tlsUnavailable,
                            "this server speaks plaintext (it was started with --plaintext); connect with --plaintext"))
                return
            }
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is Authenticated else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if case .unauthenticated(let source) = state {
            admission.releaseSlot(source: source)
            state = .authenticated
            let admission = self.admission
            context.channel.closeFuture.whenComplete { _ in admission.closed() }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        promise?.succeed()
    }

    private func arrive(context: ChannelHandlerContext) {
        guard case .new = state else { return }
        let source = context.channel.remoteAddress?.ipAddress ?? "local"
        self.source = source
        let eventLoop = context.eventLoop
        let bound = NIOLoopBound((gate: self, context: context), eventLoop: eventLoop)
        let decision = admission.arrive(source: source) {
            eventLoop.execute { bound.value.gate.admitAfterWaiting(context: bound.value.context) }
        }
        switch decision {
        case .admitted:
            state = .unauthenticated(source: source)
            context.fireChannelActive()
        case .waiting(let ticket):
            state = .waiting(ticket: ticket, source: source, held: [], heldBytes: 0)
            context.channel.setOption(.autoRead, value: false).whenFailure { _ in }
            waitDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: waitLimit) { [self] in
                refuse(
                    context: context,
                    ProtocolError(.serverBusy, "too many connections are authenticating; try again later"))
            }
        case .refused:
            state = .closed
            refuse(
                context: context,
                ProtocolError(
                    .serverBusy,
                    "server is at its limit of \(admission.maxConnections) connections; try again later"))
        }
    }

    /// Runs on the event loop when ``Admission`` has given a waiting connection its slot.
    private func admitAfterWaiting(context: ChannelHandlerContext) {
        guard case .waiting(_, let source, let held, _) = state else {
            // Closed meanwhile: the slot was taken for nothing, give it back.
            if case .closed = state { admission.releaseSlot(source: source) }
            return
        }
        waitDeadline?.cancel()
        state = .unauthenticated(source: source)
        context.fireChannelActive()
        for data in held { channelRead(context: context, data: data) }
        context.channel.setOption(.autoRead, value: true).whenFailure { _ in }
    }

    /// Sends `error` as a plaintext frame straight to the socket and closes.
    private func refuse(context: ChannelHandlerContext, _ error: ProtocolError) {
        guard !refused else { return }
        refused = true
        logger.info(
            "refusing connection: \(error.message)",
            metadata: [
                "connection.peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "unix")",
                "error.code": "\(error.code.rawValue)",
            ])
        let bytes = ConnectionMessage.error(.init(error, fatal: true)).frame.encoded(
            allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
