import Logging
import NIOCore
import NIOPosix
import PorterProtocol

/// Answers UDP echo datagrams (see ``UDPEchoDatagram``) on one socket, from the event loop: each datagram is
/// answered by one of the same size, so the service cannot be used to amplify traffic. A datagram over
/// ``UDPEchoDatagram/maxLength`` is dropped, never answered cut.
final class UDPEchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    /// Whether Porter's request ids are understood (`porter serve --udp`) or every datagram is simply
    /// upper-cased (the classic listener).
    let headers: Bool

    init(headers: Bool) { self.headers = headers }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let reply = UDPEchoDatagram.reply(to: envelope.data, headers: headers) else { return }
        context.writeAndFlush(
            wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: reply)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // An ICMP "port unreachable" for an earlier reply surfaces here; the socket carries on.
    }
}

extension PipelineListener {
    /// Binds a UDP echo socket on `host:port`; it answers from then on.
    static func bindUDPEcho(
        name: String, host: String, port: Int, headers: Bool, group: any EventLoopGroup
    ) async throws -> PipelineListener {
        let channel = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.recvAllocator, value: UDPEchoDatagram.receiveAllocator)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UDPEchoHandler(headers: headers))
                }
            }
            .bind(host: host, port: port).get()
        return PipelineListener(name: name, channel: channel)
    }
}
