import Logging
import NIOCore
import PorterProtocol

/// The first handler of every server connection, in front of TLS.
///
/// It admits the connection under the server's ``Admission`` limits, gives back the unauthenticated slot when
/// the connection authenticates (the ``ConnectionDeadlines/Authenticated`` event) and the rest when it closes.
/// A connection refused here gets one plaintext `server-busy` frame, never reaching TLS or the async code. It also checks the client's first
/// byte against the listener's transport: a plaintext client on a TLS listener, or a TLS client on a plaintext
/// one, gets one plaintext `error` frame saying what to do, and the connection closes instead of hanging.
final class ConnectionGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let expectsTLS: Bool
    private let admission: Admission
    private let logger: Logger
    private var state = State.new
    private var checkedFirstByte = false
    private var refused = false

    private enum State {
        case new
        case unauthenticated(source: String)
        case authenticated
        case closed
    }

    init(expectsTLS: Bool, admission: Admission, logger: Logger) {
        self.expectsTLS = expectsTLS
        self.admission = admission
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .unauthenticated(let source):
            admission.authenticated(source: source)
            admission.closed()
        case .authenticated:
            admission.closed()
        case .new, .closed:
            break
        }
        state = .closed
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        if !checkedFirstByte {
            let buffer = unwrapInboundIn(data)
            guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
            checkedFirstByte = true
            let isTLS = first == TransportSecurity.tlsHandshakeRecord
            if isTLS != expectsTLS {
                refuse(
                    context: context,
                    expectsTLS
                        ? ProtocolError(
                            .tlsRequired, "this server requires TLS; connect without --plaintext")
                        : ProtocolError(
                            .tlsUnavailable,
                            "this server speaks plaintext (it was started with --plaintext); connect with --plaintext"))
                return
            }
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is ConnectionDeadlines.Authenticated else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if case .unauthenticated(let source) = state {
            admission.authenticated(source: source)
            state = .authenticated
        }
        promise?.succeed()
    }

    private func admit(context: ChannelHandlerContext) {
        guard case .new = state else { return }
        let source = context.channel.remoteAddress?.ipAddress ?? "local"
        switch admission.admit(source: source) {
        case .success:
            state = .unauthenticated(source: source)
        case .failure(.connections(let limit)):
            state = .closed
            refuse(
                context: context,
                ProtocolError(.serverBusy, "server is at its limit of \(limit) connections; try again later"))
        case .failure(.unauthenticated(let limit)):
            state = .closed
            refuse(
                context: context,
                ProtocolError(
                    .serverBusy,
                    "server has \(limit) connections waiting to authenticate, its limit; try again later"))
        case .failure(.unauthenticatedFromSource(let limit)):
            state = .closed
            refuse(
                context: context,
                ProtocolError(
                    .serverBusy,
                    "\(limit) connections from \(source) are waiting to authenticate, the limit per address; try again later"
                ))
        }
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
        let bytes = ControlMessage.error(.init(error, fatal: true)).frame.encoded(allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
