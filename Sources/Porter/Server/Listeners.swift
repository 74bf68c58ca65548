import NIOCore
import NIOPosix
import Synchronization

/// A TCP listener beside the native one (classic exec, ftp, chat) whose connections are served by async code, one task each, at most
/// ``ClassicConfiguration/maxConnections`` at once.
struct AsyncListener: FrontDoor {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    let name: String
    let listener: NIOAsyncChannel<Connection, Never>
    let maxConnections: Int
    let handle: @Sendable (Connection) async throws -> Void

    /// Binds `host:port`. With `readSize`, every read is at most that many bytes, as the course's `recv(1024)`
    /// sees them: one request per read.
    static func bind(
        name: String, host: String, port: Int, readSize: Int? = nil, maxConnections: Int, group: any EventLoopGroup,
        handle: @escaping @Sendable (Connection) async throws -> Void
    ) async throws -> AsyncListener {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let readSize {
                        try channel.syncOptions?.setOption(
                            .recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: readSize))
                    }
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        return AsyncListener(name: name, listener: listener, maxConnections: maxConnections, handle: handle)
    }

    var address: String { listener.channel.localAddress.flatMap(Endpoint.init).map { "\($0)" } ?? "?" }

    func serve() async throws {
        let cap = ConnectionCap(limit: maxConnections)
        let listener = self.listener
        try await withTaskCancellationHandler {
            try await listener.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        guard cap.open.add(1, ordering: .relaxed).newValue <= cap.limit else {
                            cap.open.subtract(1, ordering: .relaxed)
                            // Closed through the async channel, which must always be finished that way.
                            try? await connection.executeThenClose { _, _ in }
                            continue
                        }
                        group.addTask {
                            defer { cap.open.subtract(1, ordering: .relaxed) }
                            // A classic client that misbehaves only loses its own connection.
                            try? await handle(connection)
                            try? await connection.channel.close()
                        }
                    }
                }
            }
        } onCancel: {
            listener.channel.close(promise: nil)
        }
    }

    func close() { listener.channel.close(promise: nil) }
}

/// A listener served by handlers on the event loop: a TCP listener whose connections' pipelines do the work (the
/// native protocol's ``ConnectionDispatcher``, the classic echo, HTTP), or a UDP socket (the UDP echo).
struct PipelineListener: FrontDoor {
    let name: String
    let channel: any Channel

    /// Binds TCP `host:port`; `setUp` adds the handlers to each connection's pipeline.
    static func bind(
        name: String, host: String, port: Int, maxConnections: Int, group: any EventLoopGroup,
        setUp: @escaping @Sendable (any Channel) throws -> Void
    ) async throws -> PipelineListener {
        let cap = ConnectionCap(limit: maxConnections)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConnectionCapHandler(cap: cap))
                    try setUp(channel)
                }
            }
            .bind(host: host, port: port).get()
        return PipelineListener(name: name, channel: channel)
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

/// Counts a listener's open connections.
final class ConnectionCap: Sendable {
    let limit: Int
    let open = Atomic<Int>(0)
    init(limit: Int) { self.limit = limit }
}

/// Closes a connection at once when its listener already has ``ConnectionCap/limit`` open.
final class ConnectionCapHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let cap: ConnectionCap
    init(cap: ConnectionCap) { self.cap = cap }

    func channelActive(context: ChannelHandlerContext) {
        if cap.open.add(1, ordering: .relaxed).newValue > cap.limit {
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cap.open.subtract(1, ordering: .relaxed)
        context.fireChannelInactive()
    }
}
