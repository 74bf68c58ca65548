import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

/// Several operations at once on one version 2 connection (docs/design/protocol-2.md section 11, step 7): each
/// on its own channel, all exact, and none held up by another that stops.
@Suite(.timeLimit(.minutes(3))) struct SharedConnectionTests {
    /// What `seq first last` prints.
    private static func seq(_ first: Int, _ last: Int) -> String {
        (first...last).map { "\($0)\n" }.joined()
    }

    @Test func eightCommandsTwoDownloadsAnUploadAndAnEchoAtOnceAreAllExact() async throws {
        try await withTemporaryDirectory { base in
            let served = base + "/served"
            let local = base + "/local"
            for directory in [served, local] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            try writeRandomFile(served + "/one", count: 6_000_000)
            try writeRandomFile(served + "/two", count: 3_000_000)
            try writeRandomFile(local + "/three", count: 5_000_000)
            try await withTestServer(configure: { $0.root = served }) { server in
                try await server.withClient { connection in
                    #expect(connection.version == 2)
                    async let one = connection.download("one", to: local + "/one")
                    async let two = connection.download("two", to: local + "/two")
                    async let three = connection.upload(local + "/three", to: "three")
                    // Eight commands with outputs of different lengths (up to about 600 KB, past a window).
                    let outputs = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                        for command in 0..<8 {
                            group.addTask {
                                let last = 10_000 + command * 12_000
                                let result = try await connection.run(["seq", "\(command)", "\(last)"])
                                #expect(result.exit.status == 0)
                                return (command, String(buffer: result.standardOutput))
                            }
                        }
                        return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
                    }
                    let echo = try await connection.echo()
                    let answer = try await echo.roundTrip(ByteBuffer(string: "beside the files"))
                    #expect(String(buffer: answer) == "BESIDE THE FILES")
                    try await echo.sender.finish()
                    let summaries = try await [one, two, three]
                    #expect(summaries.map(\.files) == [1, 1, 1])
                    for command in 0..<8 {
                        #expect(outputs[command] == Self.seq(command, 10_000 + command * 12_000), "command \(command)")
                    }
                }
            }
            #expect(sha256(of: local + "/one") == sha256(of: served + "/one"))
            #expect(sha256(of: local + "/two") == sha256(of: served + "/two"))
            #expect(sha256(of: served + "/three") == sha256(of: local + "/three"))
        }
    }

    /// A command whose output nobody reads fills its own channel's window and stops there; a download, a command
    /// and an echo on the same connection run to their ends meanwhile, and the stalled command is then ended.
    @Test func aCommandNobodyReadsHoldsUpNoOtherChannel() async throws {
        try await withTemporaryDirectory { base in
            try writeRandomFile(base + "/file", count: 8_000_000)
            try await withTestServer(configure: { $0.root = base }) { server in
                try await server.withClient { connection in
                    let stalled = try await connection.exec(["sh", "-c", "exec cat /dev/zero"])
                    let summary = try await connection.download("file", to: base + "/copy")
                    #expect(summary.files == 1)
                    let result = try await connection.run(["seq", "1", "50000"])
                    #expect(String(buffer: result.standardOutput) == Self.seq(1, 50_000))
                    let echo = try await connection.echo()
                    let answer = try await echo.roundTrip(ByteBuffer(string: "still here"))
                    #expect(String(buffer: answer) == "STILL HERE")
                    try await echo.sender.finish()
                    // The stalled command is still running, and its output starts where it should.
                    guard case .standardOutput(let first)? = try await stalled.next() else {
                        Issue.record("the stalled command sent no output")
                        return
                    }
                    #expect(first.readableBytesView.allSatisfy { $0 == 0 })
                    stalled.close()
                }
            }
            #expect(sha256(of: base + "/copy") == sha256(of: base + "/file"))
        }
    }

    /// A raw client that opens more channels than the server's `maxChannels` gets `refuse too-many-channels` for
    /// the one too many; the channels it has keep working, and the refused id is free again.
    /// Tasks that prefer the connection's executor run on its event loop, and everything works from there:
    /// commands with input larger than their window (writes that wait for credit), an echo, a download, at once.
    @Test func tasksOnTheConnectionsExecutorRunOnItsEventLoopAndDoEverything() async throws {
        try await withTemporaryDirectory { base in
            try writeRandomFile(base + "/file", count: 3_000_000)
            try await withTestServer(configure: { $0.root = base }) { server in
                try await server.withClient { connection in
                    let eventLoop = connection.channels.channel.eventLoop
                    #expect(!eventLoop.inEventLoop)
                    let input = ByteBuffer(repeating: UInt8(ascii: "x"), count: 3 * ChannelLimits.defaultInitialWindow)
                    try await withTaskExecutorPreference(connection.taskExecutor) {
                        #expect(eventLoop.inEventLoop)
                        async let summary = connection.download("file", to: base + "/copy")
                        let counts = try await withThrowingTaskGroup(of: String.self) { group in
                            for _ in 0..<4 {
                                group.addTask {
                                    #expect(eventLoop.inEventLoop)
                                    let result = try await connection.run(["wc", "-c"], input: input)
                                    #expect(result.exit.status == 0)
                                    return String(buffer: result.standardOutput)
                                }
                            }
                            return try await group.reduce(into: []) { $0.append($1) }
                        }
                        #expect(
                            counts.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                                == Array(repeating: "\(input.readableBytes)", count: 4))
                        let echo = try await connection.echo()
                        for round in 0..<100 {
                            let answer = try await echo.roundTrip(ByteBuffer(string: "round \(round)"))
                            #expect(String(buffer: answer) == "ROUND \(round)")
                        }
                        try await echo.sender.finish()
                        #expect(try await echo.receive() == nil)
                        #expect(try await summary.files == 1)
                        #expect(eventLoop.inEventLoop)
                    }
                }
            }
            #expect(sha256(of: base + "/copy") == sha256(of: base + "/file"))
        }
    }

    @Test func aRawClientBeyondMaxChannelsIsRefusedAndItsOtherChannelsGoOn() async throws {
        let twoChannels: (inout ServerConfiguration) -> Void = { $0.channelLimits = ChannelLimits(maxChannels: 2) }
        try await withTestServer(plaintext: true, configure: twoChannels) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                _ = try await connection.openEcho(1, window: 1 << 16)
                _ = try await connection.openEcho(2, window: 1 << 16)
                try await connection.send(
                    ChannelMessage.open(.init(window: 1 << 16, parameters: .echo)).frame(channel: 3))
                let refusal = try await connection.next()
                #expect(refusal.channel == 3)
                guard case .refuse(let error) = try ChannelMessage(frame: refusal, service: .echo) else {
                    Issue.record("expected a refusal, got \(refusal)")
                    return
                }
                #expect(error.code == .tooManyChannels)
                // Channel 2 still echoes.
                try await connection.send(.data(ByteBuffer(string: "two"), channel: 2))
                let answer = try await connection.next()
                #expect(answer.channel == 2 && answer.kind == .data && String(buffer: answer.payload) == "TWO")
                // Once channel 1 has ended, id 3 opens.
                try await connection.send(.eof(channel: 1))
                var closed = false
                while !closed {
                    let frame = try await connection.next()
                    if frame.channel == 1, frame.kind == .close {
                        try await connection.send(.close(channel: 1))
                        closed = true
                    }
                }
                _ = try await connection.openEcho(3, window: 1 << 16)
            }
        }
    }
}
