import Foundation
import NIOCore
import Porter
import PorterProtocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.timeLimit(.minutes(3))) struct ExecTests {
    private func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

    /// Whether any process of group `pgid` is alive.
    private func groupAlive(_ pgid: Int) -> Bool { kill(-pid_t(pgid), 0) == 0 }

    @Test func runsACommandWithSeparateStreamsAndItsStatus() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let result = try await connection.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
                #expect(text(result.standardOutput) == "out\n")
                #expect(text(result.standardError) == "err\n")
                #expect(result.exit.status == 3 && result.exit.signal == nil && !result.exit.timedOut)
            }
        }
    }

    @Test func severalWordsAreArgvAndOneWordWithShellSyntaxGoesThroughTheShell()
        async throws
    {
        try await withTestServer { server in
            try await server.withClient { connection in
                let argv = try await connection.run(["printf", "%s|", "a b", "$HOME", "c"])
                #expect(text(argv.standardOutput) == "a b|$HOME|c|")
                let shell = try await connection.run(["echo $((6 * 7)) | tr 4 X"])
                #expect(text(shell.standardOutput) == "X2\n")
            }
        }
    }

    @Test func aSignalDeathAndAMissingCommandAreReportedLikeAShell() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let killed = try await connection.run(["sh", "-c", "kill -TERM $$"])
                #expect(killed.exit.signal == "TERM" && killed.exit.signalNumber == Int(SIGTERM))
                let missing = try await connection.run(["no-such-command-\(UUID().uuidString)"])
                #expect(missing.exit.status == 127)
                #expect(text(missing.standardError).contains("command not found"))
            }
        }
    }

    @Test func binaryOutputArrivesByteForByte() async throws {
        let path = NSTemporaryDirectory() + "porter-exec-\(UUID().uuidString)"
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<(8 * 1024 * 1024 / 8)).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } }
        bytes[0...3] = [0, 0xFF, 0xFE, 0x80]  // NUL and invalid UTF-8 up front
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let expected = bytes
        try await withTestServer { server in
            try await server.withClient { connection in
                let result = try await connection.run(["cat", path])
                #expect(Array(result.standardOutput.readableBytesView) == expected)
                #expect(result.exit.status == 0)
            }
        }
    }

    @Test func standardOutputAndErrorNeverMix() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let script = "i=0; while [ $i -lt 2000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done"
                let result = try await connection.run(["sh", "-c", script])
                #expect(text(result.standardOutput) == (0..<2000).map { "out\($0)\n" }.joined())
                #expect(text(result.standardError) == (0..<2000).map { "err\($0)\n" }.joined())
            }
        }
    }

    @Test func standardInputIsStreamedToTheEnd() async throws {
        var random = ByteBuffer()
        for _ in 0..<(3 * 1024 * 1024 / 8) { random.writeInteger(UInt64.random(in: .min ... .max)) }
        let input = random
        try await withTestServer { server in
            try await server.withClient { connection in
                let count = try await connection.run(["wc", "-c"], input: input)
                #expect(text(count.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines) == "3145728")
                let echoed = try await connection.run(["cat"], input: input)
                #expect(echoed.standardOutput == input)
            }
        }
    }

    /// The command starts before its pipes become channels: one that exits, or closes its input, before they
    /// are set up still reports all its output and its status, and input sent to it meanwhile is dropped.
    @Test func commandsThatEndBeforeTheirPipesAreSetUpLoseNothing() async throws {
        let input = ByteBuffer(repeating: UInt8(ascii: "x"), count: 300_000)
        try await withTestServer { server in
            try await server.withClient { connection in
                for round in 0..<20 {
                    let quick = try await connection.run(["sh", "-c", "echo out \(round); echo err >&2; exit 4"])
                    #expect(text(quick.standardOutput) == "out \(round)\n")
                    #expect(text(quick.standardError) == "err\n")
                    #expect(quick.exit.status == 4)
                    let closed = try await connection.run(
                        ["sh", "-c", "exec 0<&-; echo closed \(round); exit 5"], input: input)
                    #expect(text(closed.standardOutput) == "closed \(round)\n")
                    #expect(closed.exit.status == 5)
                    let ignored = try await connection.run(["true"], input: input)
                    #expect(ignored.exit.status == 0)
                }
            }
        }
    }

    @Test func aCommandInheritsOnlyItsStandardStreams() async throws {
        // A descriptor the program around the server opened without O_CLOEXEC.
        let inheritable = open("/dev/null", O_RDONLY)
        #expect(inheritable >= 3)
        defer { close(inheritable) }
        try await withTestServer { server in
            try await server.withClient { connection in
                let result = try await connection.run(["sh", "-c", "ls /proc/$$/fd"])
                #expect(text(result.standardOutput) == "0\n1\n2\n")
            }
        }
    }

    @Test func withoutInputTheCommandReadsDevNull() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let result = try await connection.run(["sh", "-c", "readlink /proc/self/fd/0; cat"])
                #expect(text(result.standardOutput) == "/dev/null\n")
                let session = try await connection.exec(["cat"], options: ExecOptions(standardInput: false))
                #expect(try await session.input.send(ByteBuffer(string: "ignored")) == false)
                while try await session.next() != nil {}
                #expect(session.exit?.status == 0)
            }
        }
    }

    @Test func aCommandThatNeverReadsItsInputCannotMakeTheClientBufferWithoutBound()
        async throws
    {
        try await withTestServer { server in
            try await server.withClient { connection in
                let session = try await connection.exec(["sleep", "30"])
                let input = session.input
                let flood = Task {
                    // Blocks once the server's window is full; returns false when the command ends.
                    try await input.send(ByteBuffer(repeating: 0x61, count: 16 * 1024 * 1024))
                }
                // A signal still gets through while the input is stuck.
                try await session.input.signal("INT")
                while try await session.next() != nil {}
                #expect(session.exit?.signal == "INT")
                #expect(try await flood.value == false)
                let pid = session.pid
                try await waitUntil { !groupAlive(pid) }
            }
        }
    }

    @Test func aTimeoutTerminatesTheCommandAndItsChildren() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let session = try await connection.exec(
                    ["sh", "-c", "sleep 300 & sleep 300"], options: ExecOptions(timeout: 0.3))
                while try await session.next() != nil {}
                #expect(session.exit?.timedOut == true)
                #expect(session.exit?.signal == "TERM")
                let pid = session.pid
                try await waitUntil { !groupAlive(pid) }
            }
        }
    }

    @Test func aClientThatDisconnectsMidCommandLeavesNoProcess() async throws {
        try await withTestServer { server in
            let pid = try await server.withClient { connection in
                let session = try await connection.exec(["sh", "-c", "sleep 300 & sleep 300"])
                #expect(groupAlive(session.pid))
                return session.pid
            }
            try await waitUntil { !groupAlive(pid) }
        }
    }

    /// A client that breaks the protocol while its command runs loses the connection, and the command its
    /// process group.
    @Test func aClientThatBreaksTheProtocolMidCommandLeavesNoProcess() async throws {
        try await withTestServer(plaintext: true) { server in
            let pid = try await FrameConnection.run(server.endpoint) { connection in
                let open = ChannelMessage.open(
                    .init(window: 1 << 20, parameters: .exec(.init(argv: ["sh", "-c", "sleep 300 & sleep 300"]))))
                try await connection.send(open.frame(channel: 1))
                let frame = try await connection.next()
                guard case .accept(let accept) = try ChannelMessage(frame: frame, service: .exec),
                    case .exec(let pid) = accept.details
                else { throw TestFailure("expected the command's accept, got \(frame)") }
                #expect(groupAlive(pid))
                // Data on a channel that was never opened: fatal.
                try await connection.send(.data(ByteBuffer(string: "x"), channel: 9))
                var error: ControlMessage.ErrorBody?
                while let frame = try await connection.nextOrEnd() {
                    if frame.channel == 0, case .error(let body) = try ConnectionMessage(frame: frame) { error = body }
                }
                #expect(error?.code == .badChannel)
                return pid
            }
            try await waitUntil { !groupAlive(pid) }
        }
    }

    @Test func aWrongTokenRunsNothing() async throws {
        let marker = NSTemporaryDirectory() + "porter-marker-\(UUID().uuidString)"
        try await withTestServer { server in
            await #expect(throws: PorterError.self) {
                try await server.withClient(token: "wrong") { connection in
                    _ = try await connection.run(["touch", marker])
                }
            }
            #expect(!FileManager.default.fileExists(atPath: marker))
        }
    }

    @Test func manyCommandsRunAtOnceAndOneAfterAnother() async throws {
        try await withTestServer { server in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<50 {
                    group.addTask {
                        // Fifty handshakes at once take a while on a loaded machine: the server's deadline decides.
                        try await server.withClient(connectTimeout: 30 * testSlowdown) { connection in
                            let result = try await connection.run(["echo", "client \(client)"])
                            #expect(text(result.standardOutput) == "client \(client)\n")
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await server.withClient { connection in
                for round in 0..<100 {
                    let result = try await connection.run(["sh", "-c", "exit \(round % 7)"])
                    #expect(result.exit.status == round % 7)
                    // A command that exits at once, before its pipes could be set up after it started.
                    #expect(try await connection.run(["true"]).exit.status == 0)
                }
                _ = try await connection.ping()
            }
        }
    }

    @Test func theWorkingDirectoryStaysInsideTheRootAndTheEnvironmentIsFiltered()
        async throws
    {
        let root = NSTemporaryDirectory() + "porter-root-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
        let resolvedRoot = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        let configure: (inout ServerConfiguration) -> Void = { $0.root = root }
        try await withTestServer(configure: configure) { server in
            try await server.withClient { connection in
                let home = try await connection.run(["pwd"])
                #expect(text(home.standardOutput) == resolvedRoot + "\n")
                let sub = try await connection.run(["pwd"], options: ExecOptions(directory: "sub"))
                #expect(text(sub.standardOutput) == resolvedRoot + "/sub\n")
                for outside in ["..", "sub/../..", "/../.."] {
                    await #expect(throws: PorterError.self) {
                        _ = try await connection.run(["pwd"], options: ExecOptions(directory: outside))
                    }
                }
                let lang = try await connection.run(
                    ["sh", "-c", "echo $LANG"], options: ExecOptions(environment: ["LANG": "C.UTF-8"]))
                #expect(text(lang.standardOutput) == "C.UTF-8\n")
                do {
                    _ = try await connection.run(["true"], options: ExecOptions(environment: ["LD_PRELOAD": "x"]))
                    Issue.record("LD_PRELOAD was accepted")
                } catch let error as PorterError {
                    #expect(error.kind == .refused)
                    #expect(error.message.contains("LD_PRELOAD"))
                }
                // Refusals leave the connection usable.
                #expect(try await connection.run(["true"]).exit.status == 0)
            }
        }
    }

    @Test func aTerminalCommandSeesATerminalOfTheRequestedSize() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let terminal = ControlMessage.Terminal(term: "xterm", rows: 33, cols: 101)
                let result = try await connection.run(
                    ["sh", "-c", "tty; stty size; echo $TERM"], options: ExecOptions(terminal: terminal))
                let lines = text(result.standardOutput).split(separator: "\r\n").map(String.init)
                #expect(lines.first?.hasPrefix("/dev/pts/") == true)
                #expect(lines.dropFirst().first == "33 101")
                #expect(lines.dropFirst(2).first == "xterm")
                #expect(result.exit.status == 0)
            }
        }
    }
}

/// Exec on version 2's channels: several commands on one connection, each its own channel.
@Suite(.timeLimit(.minutes(3))) struct ExecChannelTests {
    private func groupAlive(_ pgid: Int) -> Bool { kill(-pid_t(pgid), 0) == 0 }

    /// Reads `session` to its end: its standard output and error output.
    private func drain(_ session: ExecSession) async throws -> (output: ByteBuffer, errors: ByteBuffer) {
        var output = ByteBuffer()
        var errors = ByteBuffer()
        while let next = try await session.next() {
            switch next {
            case .standardOutput(var bytes): output.writeBuffer(&bytes)
            case .standardError(var bytes): errors.writeBuffer(&bytes)
            }
        }
        return (output, errors)
    }

    @Test func eightCommandsRunAtOnceOnOneConnectionAndOneNobodyReadsHoldsUpNoOther() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                // Far more output than the channel's window and the pipe hold: it waits until it is read.
                let unread = try await connection.exec(
                    ["head", "-c", "4194304", "/dev/zero"], options: ExecOptions(standardInput: false))
                var sessions: [ExecSession] = []
                for index in 0..<7 {
                    sessions.append(try await connection.exec(["sh", "-c", "cat; echo done \(index) >&2"]))
                }
                // All eight run at once: each waits for its input.
                for session in sessions { #expect(groupAlive(session.pid)) }
                for (index, session) in sessions.enumerated().reversed() {
                    let input = ByteBuffer(repeating: UInt8(index), count: 100_000 + index)
                    #expect(try await session.input.send(input))
                    try await session.input.finish()
                    let (output, errors) = try await drain(session)
                    #expect(output == input)
                    #expect(String(buffer: errors) == "done \(index)\n")
                    #expect(session.exit?.status == 0)
                }
                _ = try await connection.ping()
                let (output, _) = try await drain(unread)
                #expect(output == ByteBuffer(repeating: 0, count: 4_194_304))
                #expect(unread.exit?.status == 0)
            }
        }
    }

    @Test func tasksShareOneConnectionToRunCommandsAtOnce() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                // Each command waits until all eight have started: they can only finish if they run at once.
                let directory = NSTemporaryDirectory() + "porter-at-once-\(UUID().uuidString)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let script =
                    "touch \"$0/$1\"; while [ $(ls \"$0\" | wc -l) -lt 8 ]; do sleep 0.05; done; echo \"command $1\""
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<8 {
                        group.addTask {
                            let result = try await connection.run(["sh", "-c", script, directory, "\(index)"])
                            #expect(String(buffer: result.standardOutput) == "command \(index)\n")
                        }
                    }
                    async let echo = connection.echo()
                    #expect(try await echo.roundTrip(ByteBuffer(string: "beside")) == ByteBuffer(string: "BESIDE"))
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test func closingAChannelEndsItsCommandAndTheConnectionGoesOn() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let session = try await connection.exec(["sh", "-c", "sleep 300 & sleep 300"])
                let pid = session.pid
                #expect(groupAlive(pid))
                session.close()
                try await waitUntil { !groupAlive(pid) }
                let result = try await connection.run(["echo", "still here"])
                #expect(String(buffer: result.standardOutput) == "still here\n")
            }
        }
    }

    @Test func aTerminalIsResizedWhileTheCommandRuns() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                let options = ExecOptions(terminal: .init(term: "xterm", rows: 24, cols: 80))
                let session = try await connection.exec(
                    ["sh", "-c", "stty size; read line; stty size"], options: options)
                var seen = ""
                while !seen.contains("24 80") {
                    guard case .standardOutput(let bytes)? = try await session.next() else { break }
                    seen += String(buffer: bytes)
                }
                try await session.input.resize(rows: 50, cols: 132, term: "xterm")
                try await session.input.send(ByteBuffer(string: "\n"))
                let (output, _) = try await drain(session)
                #expect(String(buffer: output).contains("50 132"))
                #expect(session.exit?.status == 0)
            }
        }
    }

    @Test func aSignalTheServerDoesNotAcceptIsRefusedAndTheCommandGoesOn()
        async throws
    {
        try await withTestServer { server in
            try await server.withClient { connection in
                let session = try await connection.exec(["sh", "-c", "read line; echo got $line"])
                try await session.input.signal("SEGV")
                await #expect(throws: PorterError.self) { _ = try await session.next() }
                try await session.input.send(ByteBuffer(string: "it\n"))
                let (output, _) = try await drain(session)
                #expect(String(buffer: output) == "got it\n")
            }
        }
    }
}
