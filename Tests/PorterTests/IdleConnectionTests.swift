import NIOCore
import NIOPosix
import Porter
import PorterProtocol
import Testing

/// A connection is busy only while it has a channel open; between them it costs its pipeline alone. These tests
/// send frames as any client may — back to back, without waiting for answers — and watch the server.
@Suite struct IdleConnectionTests {
    /// A connection is busy while a channel is open.
    @Test func aConnectionIsBusyOnlyWhileARequestIsServed() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
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

    /// Frames sent back to back, without waiting for answers: pings are answered in order, and each channel's
    /// frames come back in its own order.
    @Test func requestsSentBackToBackAreAnsweredInOrder() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                var requests: [Frame] = []
                for round in 1...4 {
                    let id = UInt32(round)
                    requests += [
                        ConnectionMessage.ping(.init(id: UInt64(round))).frame,
                        ChannelMessage.open(.init(window: 1024, parameters: .echo)).frame(channel: id),
                        .data(ByteBuffer(string: "round \(round)"), channel: id), ConnectionMessage.keepalive.frame,
                        .eof(channel: id),
                    ]
                }
                requests.append(ConnectionMessage.ping(.init(id: 5)).frame)
                try await connection.send(contentsOf: requests)
                var pongs: [UInt64] = []
                var channels: [UInt32: [String]] = [:]
                var closed = 0
                while closed < 4 || pongs.count < 5 {
                    let frame = try await connection.next()
                    if frame.channel == 0 {
                        if case .pong(let pong) = try ConnectionMessage(frame: frame) { pongs.append(pong.id) }
                        continue
                    }
                    let shown =
                        switch frame.kind {
                        case .data: String(buffer: frame.payload)
                        case .control: try ChannelMessage(frame: frame, service: .echo).type
                        case .eof: "eof"
                        case .close: "close"
                        case .window: "window"
                        }
                    channels[frame.channel, default: []].append(shown)
                    if frame.kind == .close {
                        closed += 1
                        try await connection.send(.close(channel: frame.channel))
                    }
                }
                #expect(pongs == [1, 2, 3, 4, 5])
                for round in 1...4 {
                    #expect(channels[UInt32(round)] == ["accept", "ROUND \(round)", "eof", "done", "close"])
                }
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
                try? await FrameConnection.run(server.endpoint) { connection in
                    signal.yield()
                    while try await connection.nextOrEnd() != nil {}
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
