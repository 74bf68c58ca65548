import NIOCore

/// Closes a connection at once when its listener is at ``ConnectionCap/limit``, or its source address at
/// ``ConnectionCap/perSource``; the handlers after it never see such a connection become active.
final class ConnectionCapHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private let cap: ConnectionCap
    /// Whether the connection holds a slot, and the address it was taken for.
    private var admitted = false
    private var address: SocketAddress?

    init(cap: ConnectionCap) { self.cap = cap }

    func channelActive(context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress
        guard cap.admit(address) else {
            context.close(promise: nil)
            return
        }
        admitted = true
        self.address = address
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted {
            cap.release(address)
            admitted = false
        }
        context.fireChannelInactive()
    }
}
