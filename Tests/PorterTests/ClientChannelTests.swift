import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

/// Porter's own client on protocol version 2: echo sessions as channels of one connection, side by side, over
/// TLS and plaintext, with a real server.
@Suite struct ClientChannelTests {
    @Test(arguments: [false, true]) func anEchoChannelIsExactThroughBothWindows(plaintext: Bool) async throws {
        try await withTestServer(plaintext: plaintext) { server in
            try await server.withClient { connection in
                let echo = try await connection.echo()
                // Four times the server's window, sent while nothing is read: the sender waits for credit, which
                // the server grants only as its answers are read.
                let sent = ChannelEchoTests.randomBytes(1 << 20, seed: 7)
                let sender = echo.sender
                async let sending: Void = {
                    for start in stride(from: 0, to: sent.count, by: 10_000) {
                        try await sender.send(ByteBuffer(bytes: sent[start..<min(start + 10_000, sent.count)]))
                    }
                    try await sender.finish()
                }()
                var received: [UInt8] = []
                while let answer = try await echo.receive() { received += answer.readableBytesView }
                try await sending
                #expect(received == ChannelEchoTests.upper(sent))
                _ = try await connection.ping()
            }
        }
    }

    @Test func aChannelNobodyReadsHoldsUpNoOtherChannel() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let stalled = try await connection.echo()
                let sent = ChannelEchoTests.randomBytes(2 << 20, seed: 8)
                let stalledSender = stalled.sender
                // Sends far more than both windows; it stops once they are full, and nobody reads yet.
                let sending = Task {
                    for start in stride(from: 0, to: sent.count, by: 16_384) {
                        try await stalledSender.send(ByteBuffer(bytes: sent[start..<min(start + 16_384, sent.count)]))
                    }
                    try await stalledSender.finish()
                }
                // Meanwhile a second channel on the same connection runs to its end, and pings are answered.
                let other = try await connection.echo()
                for round in 0..<200 {
                    let answer = try await other.roundTrip(ByteBuffer(string: "round \(round)"))
                    #expect(String(buffer: answer) == "ROUND \(round)")
                }
                try await other.sender.finish()
                #expect(try await other.receive() == nil)
                _ = try await connection.ping()
                // Reading the first releases it, exactly.
                var received: [UInt8] = []
                while let answer = try await stalled.receive() { received += answer.readableBytesView }
                try await sending.value
                #expect(received == ChannelEchoTests.upper(sent))
            }
        }
    }

    @Test func anOpenBeyondTheServersChannelsWaitsForOneToFree() async throws {
        let twoChannels: (inout ServerConfiguration) -> Void = { $0.channelLimits = ChannelLimits(maxChannels: 2) }
        try await withTestServer(configure: twoChannels) { server in
            try await server.withClient { connection in
                let channels = connection.channels
                let first = try await channels.open(.echo)
                let second = try await channels.open(.echo)
                // The third waits rather than provoke a refusal; a channel in use still answers meanwhile.
                let third = Task { try await channels.open(.echo) }
                try await second.write(.data(.main, ByteBuffer(string: "two")))
                #expect(try await second.next() == .data(.main, ByteBuffer(string: "TWO")))
                // The first ends (eof, the server's eof, done, close), which frees its channel for the third.
                try await first.finish()
                #expect(try await first.next() == .eof)
                #expect(try await first.next() == .message(.done(.empty)))
                #expect(try await first.next() == nil)
                let opened = try await third.value
                try await opened.write(.data(.main, ByteBuffer(string: "three")))
                #expect(try await opened.next() == .data(.main, ByteBuffer(string: "THREE")))
            }
        }
    }

    @Test func globalRequestsBeyondTheServersLimitWaitAndAllAreAnswered() async throws {
        try await withTemporaryDirectory { root in
            let oneAtATime: (inout ServerConfiguration) -> Void = {
                $0.root = root
                $0.channelLimits = ChannelLimits(maxGlobalRequests: 1)
            }
            try await withTestServer(configure: oneAtATime) { server in
                try await server.withClient { connection in
                    let channels = connection.channels
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for index in 0..<20 {
                            group.addTask { try await channels.global(.fileMkdir(.init(path: "d\(index)"))) }
                        }
                        try await group.waitForAll()
                    }
                    // One refused in its turn, the connection still there.
                    await #expect(throws: PorterError.self) {
                        try await channels.global(.fileMkdir(.init(path: "../out")))
                    }
                    _ = try await connection.ping()
                }
            }
            let made = try FileManager.default.contentsOfDirectory(atPath: root)
            #expect(Set(made) == Set((0..<20).map { "d\($0)" }))
        }
    }

    @Test func aRefusedChannelLeavesTheConnectionUsable() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let channels = connection.channels
                do {
                    _ = try await channels.open(.exec(.init(argv: ["pwd"], cwd: "../..")))
                    Issue.record("a directory outside the root was accepted")
                } catch let error as PorterError {
                    #expect(error.kind == .refused)
                    #expect(error.code == .badRequest)
                }
                let echo = try await connection.echo()
                #expect(String(buffer: try await echo.roundTrip(ByteBuffer(string: "still"))) == "STILL")
            }
        }
    }

    /// Version 1 (one request at a time) is no longer spoken: a `hello` that offers only it is answered with a
    /// fatal `unsupported-version`, in the handshake form, and the connection closes.
    @Test func aHelloOfferingOnlyVersion1IsRefusedUnsupportedVersion() async throws {
        try await withTestServer(plaintext: true) { server in
            let hello = ConnectionMessage.hello(
                .init(versions: [1], agent: "porter/old", nonce: .init([UInt8](repeating: 3, count: 32))))
            let reply = try frames(
                in: try await rawExchange(
                    with: server.endpoint, sending: Array(hello.frame.encoded().readableBytesView)))
            guard reply.count == 1, case .error(let body) = try ConnectionMessage(frame: reply[0]) else {
                Issue.record("expected one error frame, got \(reply)")
                return
            }
            #expect(body.code == .unsupportedVersion)
            #expect(body.fatal)
            #expect(body.message.contains("server speaks protocol version 2, client offers [1]"))
            try await server.withClient { connection in #expect(connection.version == 2) }
        }
    }

    @Test func theConnectionsEndReachesAWaitingReader() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let echo = try await connection.echo()
                let opened = try await connection.channels.open(.echo)
                try await connection.channels.channel.close()
                await #expect(throws: PorterError.self) { _ = try await echo.receive() }
                // A channel read directly learns of the lost connection too, rather than of a clean close.
                await #expect(throws: PorterError(.connection, "the server closed the connection")) {
                    _ = try await opened.next()
                }
            }
        }
    }
}
