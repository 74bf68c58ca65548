import NIOCore
import PorterProtocol

/// Closes a connection that does not authenticate in time or goes silent, with an error frame first.
///
/// Deadlines are event-loop timers. The authentication deadline starts when the channel becomes active — so it
/// covers the TLS handshake too — and is cancelled by the ``Authenticated`` outbound event, which then travels on
/// to the ``ConnectionGate``; the idle deadline counts from the last frame read.
final class ConnectionDeadlines: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias InboundOut = Frame
    typealias OutboundIn = Frame
    typealias OutboundOut = Frame

    /// Sent down the pipeline once the handshake has succeeded.
    struct Authenticated: Sendable {}

    /// How long an expired connection's error frame may take to leave before the connection closes regardless.
    static let closeGrace = TimeAmount.milliseconds(500)

    private let authTimeout: TimeAmount
    private let idleTimeout: TimeAmount?
    private var authDeadline: Scheduled<Void>?
    private var idleCheck: Scheduled<Void>?
    private var lastRead = NIODeadline.now()
    private var expired = false

    init(authTimeout: TimeAmount, idleTimeout: TimeAmount?) {
        self.authTimeout = authTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        authDeadline?.cancel()
        idleCheck?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        authDeadline?.cancel()
        idleCheck?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is Authenticated else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        authDeadline?.cancel()
        authDeadline = nil
        if idleCheck == nil, !expired { scheduleIdleCheck(context: context, at: lastRead) }
        context.triggerUserOutboundEvent(event, promise: promise)
    }

    private func start(context: ChannelHandlerContext) {
        guard authDeadline == nil, !expired else { return }
        let loop = context.eventLoop.assumeIsolated()
        lastRead = .now()
        authDeadline = loop.scheduleTask(in: authTimeout) { [self] in
            expire(
                context: context,
                ProtocolError(.authTimeout, "authentication did not complete within \(seconds(authTimeout)) s"))
        }
        // Before authentication the idle timeout matters only if it is the shorter of the two.
        if let idleTimeout, idleTimeout < authTimeout { scheduleIdleCheck(context: context, at: lastRead) }
    }

    private func scheduleIdleCheck(context: ChannelHandlerContext, at reference: NIODeadline) {
        guard let idleTimeout else { return }
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: reference + idleTimeout) { [self] in
            if NIODeadline.now() - lastRead >= idleTimeout {
                expire(
                    context: context,
                    ProtocolError(
                        .idleTimeout, "closed after \(seconds(idleTimeout)) s without a message from the client"))
            } else {
                scheduleIdleCheck(context: context, at: lastRead)
            }
        }
    }

    private func expire(context: ChannelHandlerContext, _ error: ProtocolError) {
        guard !expired else { return }
        expired = true
        authDeadline?.cancel()
        idleCheck?.cancel()
        let frame = ControlMessage.error(.init(error, fatal: true)).frame
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        // A write cannot complete before the TLS handshake does: close regardless after a short grace period.
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeGrace) {
            context.close(promise: nil)
        }
    }

    private func seconds(_ amount: TimeAmount) -> String {
        let value = Double(amount.nanoseconds) / 1e9
        return value == value.rounded() ? String(Int(value)) : String(value)
    }
}
