import NIOCore
import NIOPosix
import Porter

/// A raw TCP connection to a test server, from a chosen loopback source address, for tests that hold, trickle to
/// or watch connections: everything that arrives is collected.
struct RawConnection: Sendable {
    let channel: any Channel
    private let collected: Locked<[UInt8]>

    /// Connects to `127.0.0.1:port` from `source` (another loopback address stands for another client machine).
    static func open(port: Int, from source: String = "127.0.0.1") async throws -> RawConnection {
        let collected = Locked<[UInt8]>([])
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(collected: collected))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, collected: collected)
    }

    /// Whether the connection is still open (the server has not closed it).
    var isOpen: Bool { channel.isActive }

    /// Everything received so far.
    var received: [UInt8] { collected.withLock { $0 } }

    /// Sends `text`.
    func send(_ text: String) async throws { try await channel.writeAndFlush(ByteBuffer(string: text)) }

    /// Closes the connection, if the server has not.
    func close() async { try? await channel.close() }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let collected: Locked<[UInt8]>
        init(collected: Locked<[UInt8]>) { self.collected = collected }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            collected.withLock { $0 += bytes.readableBytesView }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // A reset from a server that refused the connection: it is closed, which is what tests look for.
            context.close(promise: nil)
        }
    }
}
