import NIOCore
import NIOPosix
import Porter
import PorterProtocol
import Testing

/// A connection is served by a task only while it has requests: between them it is the event loop's alone. These
/// tests send frames as any client may — back to back, without waiting for answers — and watch the server.
@Suite struct IdleConnectionTests {
    /// On version 2 a connection is busy while a channel is open.
    @Test(arguments: [1, 2]) func aConnectionIsBusyOnlyWhileARequestIsServed(version: Int) async throws {
        try await withTestServer { server in
            try await server.withClient(version: version) { connection in
                _ = try await connection.ping()
                #expect(server.server.busyConnectionCount == 0)
                let echo = try await connection.echo()
                #expect(try await echo.roundTrip(ByteBuffer(string: "abc")) == ByteBuffer(string: "ABC"))
                #expect(server.server.busyConnectionCount == 1)
                try await echo.sender.finish()
                #expect(try await echo.receive() == nil)
                try await waitUntil(seconds: 20) { server.server.busyConnectionCount == 0 }
                _ = try await connection.ping()
            }
        }
    }

    @Test func requestsSentBackToBackAreAnsweredInOrder() async throws {
        try await withTestServer(plaintext: true) { server in
            try await withAuthenticatedFrames(server.endpoint) { frames, outbound in
                // More frames than the server reads ahead, in one write: the server pauses reading and resumes.
                var requests: [Frame] = []
                var answers: [Frame] = []
                for round in 1...4 {
                    requests += [
                        ControlMessage.ping(.init(id: UInt64(round))).frame, ControlMessage.echo.frame,
                        .data(ByteBuffer(string: "round \(round)")), ControlMessage.keepalive.frame,
                        ControlMessage.end.frame,
                    ]
                    answers += [
                        ControlMessage.pong(.init(id: UInt64(round))).frame,
                        .data(ByteBuffer(string: "ROUND \(round)")), ControlMessage.end.frame,
                    ]
                }
                requests.append(ControlMessage.ping(.init(id: 5)).frame)
                answers.append(ControlMessage.pong(.init(id: 5)).frame)
                try await outbound.write(contentsOf: requests)
                var received: [Frame] = []
                while received.count < answers.count, let frame = try await frames.next() { received.append(frame) }
                #expect(received.map(describe) == answers.map(describe))
            }
            try await waitUntil(seconds: 20) { server.server.busyConnectionCount == 0 }
        }
    }

    @Test func stoppingTheServerClosesAnIdleConnection() async throws {
        let ended = Locked(false)
        let client = try await withTestServer(plaintext: true) { server in
            let (authenticated, signal) = AsyncStream.makeStream(of: Void.self)
            let client = Task {
                defer { signal.finish() }
                // The end of the connection, however it comes (end of stream or reset), is what is awaited.
                try? await withAuthenticatedFrames(server.endpoint) { frames, _ in
                    signal.yield()
                    while try await frames.next() != nil {}
                }
                ended.withLock { $0 = true }
            }
            let wasAuthenticated = await authenticated.first { _ in true } != nil
            #expect(wasAuthenticated)
            return client
        }
        defer { client.cancel() }
        // Generous: the whole suite runs in parallel on two cores.
        try await waitUntil(seconds: 20) { ended.withLock { $0 } }
    }
}

/// Connects to a plaintext server, authenticates with ``testToken`` and runs `body` with the raw frames.
private func withAuthenticatedFrames(
    _ endpoint: Endpoint,
    _ body: (inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator, NIOAsyncChannelOutboundWriter<Frame>) async throws
        -> Void
) async throws {
    guard case .tcp(let host, let port) = endpoint else { throw TestFailure("a TCP endpoint is needed") }
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(
        host: host, port: port
    ) { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
            try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
            return try NIOAsyncChannel<Frame, Frame>(wrappingChannelSynchronously: channel)
        }
    }
    try await channel.executeThenClose { inbound, outbound in
        var handshake = ClientHandshake(
            agent: "test", token: testToken, nonce: [UInt8](repeating: 7, count: ControlMessage.nonceLength))
        try await outbound.write(handshake.start().frame)
        var frames = inbound.makeAsyncIterator()
        handshaking: while let frame = try await frames.next() {
            switch handshake.receive(try ControlMessage(frame: frame)) {
            case .send(let message): try await outbound.write(message.frame)
            case .authenticated: break handshaking
            case .fail(let error): throw error
            case .switchForm: throw TestFailure("a version 1 handshake switched forms")
            }
        }
        try await body(&frames, outbound)
    }
}

/// A frame as a line of text: its control message, or its data.
private func describe(_ frame: Frame) -> String {
    if frame.kind == .data { return "data \(String(buffer: frame.payload))" }
    return (try? ControlMessage(frame: frame)).map { "\($0)" } ?? "undecodable"
}
