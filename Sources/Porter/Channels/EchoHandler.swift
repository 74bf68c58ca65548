import NIOCore
import PorterProtocol

/// The echo service on a channel: answers each data frame with the same bytes, ASCII letters upper-cased, in
/// order; after the client's eof, the answers still waiting, then eof, `done {}` and close
/// (docs/PROTOCOL.md section 5.4.5).
///
/// It reads only while its channel is writable: a client that does not read its answers stops getting credit
/// for more requests, so what the server holds for it is bounded by the channel's windows.
final class EchoHandler: ChannelDuplexHandler {
    typealias InboundIn = ChannelContent
    typealias OutboundIn = ChannelContent
    typealias OutboundOut = ChannelContent

    private var readPending = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The state machine lets no message of the client's reach an echo channel.
        guard case .data(_, var bytes) = unwrapInboundIn(data) else { return }
        EchoTransform.uppercaseASCII(&bytes)
        context.write(wrapOutboundOut(.data(.main, bytes)), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, readPending {
            readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .inputClosed = event as? ChannelEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        context.finishChannel(with: .done(.empty))
    }
}
