import NIOCore
import NIOHTTP1

/// Gives an HTTP client ``timeout`` to send each whole request head, counted from the start of the connection or
/// the end of the previous response and not reset by bytes arriving: a client that dribbles a header a byte at a
/// time cannot hold a connection for longer. Also closes the connection after a malformed request, once
/// `HTTPServerProtocolErrorHandler` (before it in the pipeline) has answered it `400`.
///
/// Used by both HTTP front doors, the HTTP endpoint and the classic http listener.
final class RequestHeadDeadline: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// How long a client has for each request head.
    let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var heads = 0
    private var responses = 0

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            heads += 1
            disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        // The next head's time starts once this response has left, not while a slow reader still takes it.
        let written = promise ?? context.eventLoop.makePromise()
        written.futureResult.assumeIsolated().whenSuccess { [self] in
            responses += 1
            if responses >= heads { arm(context: context) }
        }
        context.write(data, promise: written)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed request or one over the header limits has been answered (400); the connection cannot be
        // trusted to be in step any more.
        context.close(promise: nil)
        context.fireErrorCaught(error)
    }

    private func arm(context: ChannelHandlerContext) {
        guard deadline == nil else { return }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            context.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}
