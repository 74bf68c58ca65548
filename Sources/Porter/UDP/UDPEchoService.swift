import Logging
import NIOCore
import NIOPosix
import PorterProtocol

/// Answers UDP echo datagrams (see ``UDPEchoDatagram``) on one socket, from the event loop: each datagram is
/// answered by one of the same size, so the service cannot be used to amplify traffic.
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

/// A bound UDP echo socket.
struct UDPEchoDoor: FrontDoor {
    let name: String
    let channel: any Channel

    /// Binds `host:port` and answers from then on.
    static func bind(
        name: String, host: String, port: Int, headers: Bool, group: any EventLoopGroup
    ) async throws -> UDPEchoDoor {
        let channel = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UDPEchoHandler(headers: headers))
                }
            }
            .bind(host: host, port: port).get()
        return UDPEchoDoor(name: name, channel: channel)
    }

    var address: String { channel.localAddress.flatMap(Endpoint.init).map { "\($0)" } ?? "?" }

    func serve() async throws {
        let channel = self.channel
        try await withTaskCancellationHandler {
            try await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    func close() { channel.close(promise: nil) }
}
