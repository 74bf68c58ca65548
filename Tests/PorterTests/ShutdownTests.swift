import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// A server shutting down gracefully (docs/design/protocol-2.md section 4.5): the listeners close, what runs on a
/// version 2 connection finishes within the grace period while nothing new opens, and everything else is closed
/// at once with `shutting-down`.
@Suite(.timeLimit(.minutes(3))) struct ShutdownTests {
    /// A server configuration's change: a shutdown grace of `seconds`.
    private static func grace(_ seconds: Double) -> @Sendable (inout ServerConfiguration) -> Void {
        { $0.shutdownGrace = seconds }
    }

    /// Waits until `condition` holds, checking every 10 ms for at most `seconds`.
    private static func waitUntilAsync(seconds: Double = 30, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * testSlowdown * 1000))
        while await !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("not within \(seconds) s") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Expects `body` to fail as an operation does once the server is shutting down: kind `connection` (exit
    /// status 255 in the CLI), code `shutting-down`.
    private static func expectShuttingDown(
        sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            Issue.record("expected a shutting-down failure", sourceLocation: sourceLocation)
        } catch let error as PorterError {
            #expect(error.code == .shuttingDown, "\(error)", sourceLocation: sourceLocation)
            #expect(error.kind == .connection, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected a PorterError, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func aCommandRunningAtShutdownFinishesWhileNothingNewOpens() async throws {
        try await withTestServer(configure: Self.grace(300)) { server in
            try await server.withClient { connection in
                let session = try await connection.exec(["sh", "-c", "read line; echo got $line"])
                await server.shutDown()
                try await Self.waitUntilAsync { await connection.serverShutdownGrace != nil }
                #expect(await connection.serverShutdownGrace == 300)
                // Nothing new: no channel on this connection, no new connection.
                await Self.expectShuttingDown { _ = try await connection.echo() }
                await Self.expectShuttingDown { _ = try await connection.run(["true"]) }
                await #expect(throws: PorterError.self) { try await server.withClient { _ in } }
                // A ping still works, and the server is still serving the command.
                _ = try await connection.ping()
                #expect(!server.hasStopped)
                #expect(try await session.input.send(ByteBuffer(string: "hello\n")))
                try await session.input.finish()
                var output = ByteBuffer()
                while let chunk = try await session.next() {
                    if case .standardOutput(var bytes) = chunk { output.writeBuffer(&bytes) }
                }
                #expect(String(buffer: output) == "got hello\n")
                #expect(session.exit?.status == 0)
            }
            // Its last channel closed, the connection closes and the server stops.
            try await waitUntil { server.hasStopped }
        }
    }

    @Test func aDownloadRunningAtShutdownArrivesExact() async throws {
        try await withTemporaryDirectory { base in
            try writeRandomFile(base + "/file", count: 8_000_000)
            try await withTestServer(configure: { $0.root = base }) { server in
                // One read per 10 ms: the download is still running when the shutdown begins.
                try await withRelay(to: server.endpoint, pause: .milliseconds(10)) { slow in
                    try await server.withClient(at: slow) { connection in
                        async let summary = connection.download("file", to: base + "/copy")
                        try await Self.waitUntilAsync { server.server.status().transfers.count == 1 }
                        await server.shutDown()
                        try await Self.waitUntilAsync { await connection.serverShutdownGrace != nil }
                        #expect(try await summary.files == 1)
                    }
                }
                try await waitUntil { server.hasStopped }
            }
            #expect(sha256(of: base + "/copy") == sha256(of: base + "/file"))
        }
    }

    /// A chat membership never ends by itself: it ends when the shutdown begins, after the events already queued,
    /// so a server whose clients are chatting stops without waiting for the grace period.
    @Test func aChatMembershipEndsAtShutdownWithoutHoldingTheGrace() async throws {
        try await withTestServer(configure: Self.grace(300)) { server in
            try await server.withClient { connection in
                let member = try await connection.joinChat(room: "r", name: "member")
                try await server.withClient { other in
                    let talker = try await other.joinChat(room: "r", name: "talker")
                    try await talker.sender.say("before the shutdown")
                    #expect(
                        try await member.nextEvent() == .chat(.joined(name: "talker")))
                    #expect(
                        try await member.nextEvent()
                            == .chat(.message(from: "talker", text: "before the shutdown", isPrivate: false)))
                    await server.shutDown()
                    await Self.expectShuttingDown {
                        while try await member.nextEvent() != nil {}
                    }
                    await Self.expectShuttingDown {
                        while try await talker.nextEvent() != nil {}
                    }
                    // Well before the 300 s of grace, with both clients still connected: the server closed each
                    // connection once its membership had ended, and stopped.
                    try await waitUntil { server.hasStopped }
                    await Self.expectShuttingDown { _ = try await other.ping() }
                }
                await Self.expectShuttingDown { _ = try await connection.ping() }
            }
        }
    }

    /// `porter chat` ends when its membership does, whatever its standard input is doing: here a pipe that stays
    /// open and silent, as a terminal nobody types into.
    @Test func porterChatEndsAtShutdownWhileItsInputStaysOpen() async throws {
        let base = NSTemporaryDirectory() + "porter-chat-\(UUID().uuidString)"
        defer {
            for suffix in [".token", ".in", ".out", ".err"] {
                try? FileManager.default.removeItem(atPath: base + suffix)
            }
        }
        _ = FileManager.default.createFile(
            atPath: base + ".token", contents: Data(testToken.utf8), attributes: [.posixPermissions: 0o600])
        #expect(mkfifo(base + ".in", 0o600) == 0)
        // The test holds the pipe's write end, so the command's input never ends.
        let writer = open(base + ".in", O_RDWR | O_CLOEXEC)
        #expect(writer >= 0)
        defer { close(writer) }
        try await withTestServer(configure: Self.grace(300)) { server in
            let chat = try TestProcess.start(
                [
                    TestProcess.porter, "chat", "\(server.endpoint)", "--token-file", base + ".token",
                    "--fingerprint", "\(testIdentity.fingerprint)", "--name", "ann",
                ], input: base + ".in", output: base + ".out", errors: base + ".err")
            try await waitUntil { server.server.chat.snapshot().first?.members == ["ann"] }
            await server.shutDown()
            #expect(try await chat.wait() == 255)
            let errors = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
            #expect(errors.contains("the server is shutting down"), "\(errors)")
            try await waitUntil { server.hasStopped }
        }
    }

    @Test func theGracePeriodsEndClosesWhatStillRuns() async throws {
        try await withTestServer(configure: Self.grace(0.5)) { server in
            try await server.withClient { connection in
                let session = try await connection.exec(["sleep", "600"], options: .init(standardInput: false))
                await server.shutDown()
                do {
                    while try await session.next() != nil {}
                    Issue.record("the command ended by itself")
                } catch let error as PorterError {
                    #expect(error.code == .shuttingDown, "\(error)")
                    #expect(error.message.contains("have passed"), "\(error)")
                }
            }
            try await waitUntil { server.hasStopped }
        }
    }

    @Test func anIdleConnectionAndOneInTheHandshakeCloseAtOnce() async throws {
        try await withTestServer(plaintext: true, configure: Self.grace(300)) { server in
            try await server.withClient { idle in
                // A connection that has sent nothing: still in the handshake.
                async let raw = rawExchange(with: server.endpoint, sending: [])
                try await waitUntil { server.server.unauthenticatedCount == 1 }
                await server.shutDown()
                let frames = try frames(in: try await raw)
                guard frames.count == 1, case .error(let error) = try ConnectionMessage(frame: frames[0]) else {
                    Issue.record("expected one error, got \(frames)")
                    return
                }
                #expect(error.code == .shuttingDown)
                #expect(error.fatal)
                try await waitUntil { server.hasStopped }
                await Self.expectShuttingDown { _ = try await idle.ping() }
            }
        }
    }

    @Test func aGlobalRequestWhileShuttingDownFails() async throws {
        try await withTemporaryDirectory { base in
            try await withTestServer(configure: { $0.root = base }) { server in
                try await server.withClient { connection in
                    let channels = connection.channels
                    let session = try await connection.exec(["sh", "-c", "read line"])
                    try await channels.global(.fileMkdir(.init(path: "before")))
                    await server.shutDown()
                    try await Self.waitUntilAsync { await connection.serverShutdownGrace != nil }
                    await Self.expectShuttingDown { try await channels.global(.fileMkdir(.init(path: "after"))) }
                    try await session.input.finish()
                    while try await session.next() != nil {}
                }
                try await waitUntil { server.hasStopped }
            }
            #expect(FileManager.default.fileExists(atPath: base + "/before"))
            #expect(!FileManager.default.fileExists(atPath: base + "/after"))
        }
    }

    @Test func cancellingTheServerDuringTheGracePeriodClosesEverythingAtOnce() async throws {
        try await withTestServer(configure: Self.grace(300)) { server in
            try await server.withClient { connection in
                let session = try await connection.exec(["sleep", "600"], options: .init(standardInput: false))
                await server.shutDown()
                try await Self.waitUntilAsync { await connection.serverShutdownGrace != nil }
                // A second signal, under `porter serve`.
                server.stopNow()
                await Self.expectShuttingDown { while try await session.next() != nil {} }
            }
            try await waitUntil { server.hasStopped }
        }
    }
}
