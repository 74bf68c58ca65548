import NIOCore

/// Closes a connection once nothing has passed either way for ``timeout``: nothing read from the peer and no
/// write to it completed (a peer that stops reading stops writes completing, so it goes idle too).
///
/// A request being served holds the clock: between a ``Request/started`` and its ``Request/ended`` (outbound user
/// events, which async code sends with `channel.triggerUserOutboundEvent`) the connection is never idle, so a
/// classic exec command that runs silently for a while keeps its connection. Used by the HTTP endpoint and every
/// classic TCP listener.
final class IdleTimeoutHandler: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    /// Sent down the pipeline around the serving of one request.
    enum Request: Sendable {
        case started
        case ended
    }

    /// How long a connection may pass with nothing either way.
    let timeout: TimeAmount
    private var lastActivity = NIODeadline.now()
    private var requests = 0
    private var check: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stop() }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let written = promise ?? context.eventLoop.makePromise()
        written.futureResult.assumeIsolated().whenSuccess { [self] in lastActivity = .now() }
        context.write(data, promise: written)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let request = event as? Request else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch request {
        case .started: requests += 1
        case .ended: requests = max(requests - 1, 0)
        }
        lastActivity = .now()
        promise?.succeed()
    }

    private func start(context: ChannelHandlerContext) {
        guard check == nil else { return }
        lastActivity = .now()
        schedule(context: context, at: lastActivity + timeout)
    }

    private func stop() {
        check?.cancel()
        check = nil
    }

    private func schedule(context: ChannelHandlerContext, at deadline: NIODeadline) {
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            let due = lastActivity + timeout
            if requests == 0, due <= .now() {
                check = nil
                context.close(promise: nil)
            } else {
                schedule(context: context, at: requests > 0 ? .now() + timeout : due)
            }
        }
    }
}
