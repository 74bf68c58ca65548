import NIOCore
import NIOPosix

/// A TCP listener beside the native one (classic exec, ftp, chat) whose connections are served by async code, one
/// task each, within its ``ConnectionLimits``.
struct AsyncListener: FrontDoor {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    let name: String
    let listener: NIOAsyncChannel<Connection, Never>
    let cap: ConnectionCap
    let handle: @Sendable (Connection) async throws -> Void

    /// Binds `host:port`. With `readSize`, every read is at most that many bytes, as the course's `recv(1024)`
    /// sees them: one request per read.
    static func bind(
        name: String, host: String, port: Int, readSize: Int? = nil, limits: ConnectionLimits,
        group: any EventLoopGroup, handle: @escaping @Sendable (Connection) async throws -> Void
    ) async throws -> AsyncListener {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let readSize {
                        try channel.syncOptions?.setOption(
                            .recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: readSize))
                    }
                    if let idle = limits.idleHandler() { try channel.pipeline.syncOperations.addHandler(idle) }
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        let cap = ConnectionCap(limit: limits.maxConnections, perSource: limits.maxConnectionsPerSource)
        return AsyncListener(name: name, listener: listener, cap: cap, handle: handle)
    }

    var address: String { listener.channel.localAddress.flatMap(Endpoint.init).map { "\($0)" } ?? "?" }

    func serve() async throws {
        let cap = self.cap
        let listener = self.listener
        try await withTaskCancellationHandler {
            try await listener.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        let peer = connection.channel.remoteAddress
                        guard cap.admit(peer) else {
                            // Closed through the async channel, which must always be finished that way.
                            try? await connection.executeThenClose { _, _ in }
                            continue
                        }
                        group.addTask {
                            defer { cap.release(peer) }
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
/// native protocol's ``ChannelMultiplexer``, the classic echo, HTTP), or a UDP socket (the UDP echo).
struct PipelineListener: FrontDoor {
    let name: String
    let channel: any Channel

    /// Binds TCP `host:port`; `setUp` adds the handlers to each connection's pipeline, after those that enforce
    /// `limits`.
    static func bind(
        name: String, host: String, port: Int, limits: ConnectionLimits, group: any EventLoopGroup,
        setUp: @escaping @Sendable (any Channel) throws -> Void
    ) async throws -> PipelineListener {
        let cap = ConnectionCap(limit: limits.maxConnections, perSource: limits.maxConnectionsPerSource)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(ConnectionCapHandler(cap: cap))
                    if let idle = limits.idleHandler() { try pipeline.addHandler(idle) }
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
