import Foundation
import Porter
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The `porter` executable as people and scripts use it, against an in-process server.
@Suite(.timeLimit(.minutes(3))) struct CommandLineTests {
    /// A token file holding ``testToken``, mode 0600.
    private static let tokenFile: String = {
        let path = NSTemporaryDirectory() + "porter-cli-token-\(UUID().uuidString)"
        _ = FileManager.default.createFile(
            atPath: path, contents: Data(testToken.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }()

    private func porter(_ command: String, _ server: TestServer, _ arguments: [String]) -> [String] {
        [
            TestProcess.porter, command, "\(server.endpoint)", "--token-file", Self.tokenFile, "--fingerprint",
            "\(testIdentity.fingerprint)", "--connect-timeout", "\(Int(30 * testSlowdown))",
        ] + arguments
    }

    private func temporaryFile() -> String {
        NSTemporaryDirectory() + "porter-cli-\(UUID().uuidString)"
    }

    @Test func execPassesStreamsAndTheExitStatusThrough() async throws {
        try await withTestServer { server in
            let run = try await TestProcess.run(
                porter("exec", server, ["--", "sh", "-c", "echo out; echo err >&2; exit 7"]))
            #expect(run.status == 7)
            #expect(run.output == "out\n")
            #expect(run.errors == "err\n")
            let killed = try await TestProcess.run(porter("exec", server, ["--", "sh", "-c", "kill -KILL $$"]))
            #expect(killed.status == 128 + SIGKILL)
            let missing = try await TestProcess.run(porter("exec", server, ["--", "no-such-command-here"]))
            #expect(missing.status == 127)
            #expect(missing.errors.contains("command not found"))
        }
    }

    /// `porter exec H -- yes | head` ends as `yes | head` does: the reader has gone, so the client ends with the
    /// status of a SIGPIPE and the server terminates the command. Before, the client read `yes` forever.
    @Test func execEndsWhenNobodyReadsItsOutput() async throws {
        try await withTestServer { server in
            let command = porter("exec", server, ["-n", "--", "yes"]).map { "'\($0)'" }.joined(separator: " ")
            let run = try await TestProcess.run([
                "bash", "-c", "\(command) | head -c 4 >/dev/null; echo \"${PIPESTATUS[0]}\"",
            ])
            #expect(run.output == "\(128 + SIGPIPE)\n", "\(run.errors)")
        }
    }

    @Test func standardInputIsForwardedExactly() async throws {
        let input = temporaryFile()
        let output = temporaryFile()
        var random = Data(count: 2 * 1024 * 1024)
        random.withUnsafeMutableBytes { raw in
            var generator = SystemRandomNumberGenerator()
            for index in raw.indices { raw[index] = generator.next() }
        }
        let bytes = random
        try bytes.write(to: URL(fileURLWithPath: input))
        defer { for path in [input, output] { try? FileManager.default.removeItem(atPath: path) } }
        try await withTestServer { server in
            let process = try TestProcess.start(porter("exec", server, ["--", "cat"]), input: input, output: output)
            #expect(try await process.wait() == 0)
            #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == bytes)
            // With -n the command reads /dev/null, as with `ssh -n`.
            let ignored = try await TestProcess.run(porter("exec", server, ["-n", "--", "cat"]), input: input)
            #expect(ignored.status == 0 && ignored.output.isEmpty)
        }
    }

    /// A standard input that is /dev/null is `-n`: the command gets the server's /dev/null, not a pipe that ends
    /// at once. Any other input, a file here, comes through a pipe.
    @Test func nullStandardInputIsNoInput() async throws {
        let input = temporaryFile()
        try Data("text\n".utf8).write(to: URL(fileURLWithPath: input))
        defer { try? FileManager.default.removeItem(atPath: input) }
        try await withTestServer { server in
            let describe = ["--", "sh", "-c", "readlink /proc/self/fd/0; cat"]
            let null = try await TestProcess.run(porter("exec", server, describe), input: "/dev/null")
            #expect(null.status == 0 && null.output == "/dev/null\n", "\(null.errors)")
            let file = try await TestProcess.run(porter("exec", server, describe), input: input)
            #expect(file.status == 0 && file.output.hasPrefix("pipe:") && file.output.hasSuffix("\ntext\n"))
        }
    }

    @Test func porterFailuresExitWith255AndOneLine() async throws {
        let wrongToken = temporaryFile()
        _ = FileManager.default.createFile(
            atPath: wrongToken, contents: Data("wrong".utf8), attributes: [.posixPermissions: 0o600])
        let marker = temporaryFile()
        try await withTestServer { server in
            var arguments = porter("exec", server, ["--", "touch", marker])
            arguments[4] = wrongToken
            let refused = try await TestProcess.run(arguments)
            #expect(refused.status == 255)
            #expect(refused.errors.hasPrefix("porter: ") && refused.errors.filter { $0 == "\n" }.count == 1)
            #expect(!FileManager.default.fileExists(atPath: marker))
        }
        // Nothing listens on the server's port any more.
        let unreachable = try await TestProcess.run([
            TestProcess.porter, "exec", "127.0.0.1:1", "--token-file", wrongToken, "--", "true",
        ])
        #expect(unreachable.status == 255)
        #expect(unreachable.errors.hasPrefix("porter: cannot connect"))
    }

    @Test func ctrlCIsForwardedAndASecondOneKills() async throws {
        try await withTestServer { server in
            for (script, presses, expected) in [
                ("trap 'echo got-int; exit 5' INT; echo ready; sleep 30 & wait", 1, Int32(5)),
                ("trap '' INT; echo ready; sleep 30", 2, 128 + SIGKILL),
            ] {
                let output = temporaryFile()
                defer { try? FileManager.default.removeItem(atPath: output) }
                let client = try TestProcess.start(porter("exec", server, ["--", "sh", "-c", script]), output: output)
                try await waitUntil {
                    (try? String(contentsOfFile: output, encoding: .utf8))?.contains("ready") == true
                }
                for _ in 0..<presses {
                    client.signal(SIGINT)
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(try await client.wait() == expected)
            }
        }
    }

    @Test func shellWithoutATerminalRunsOneCommandPerLine() async throws {
        let input = temporaryFile()
        try "echo one\n\nsh -c 'exit 4'\necho two\n".write(toFile: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: input) }
        try await withTestServer { server in
            let run = try await TestProcess.run(porter("shell", server, []), input: input)
            #expect(run.output == "one\ntwo\n")
            #expect(run.status == 0)
            #expect(run.errors.contains("$ "))
        }
    }

    /// As a person would use it: in tmux, typing into the remote shell, resizing, pressing Ctrl-C, leaving.
    @Test(.enabled(if: toolAvailable("tmux"), "needs tmux"))
    func interactiveShellUnderTmux() async throws {
        try await withTestServer { server in
            let command = porter("shell", server, []).joined(separator: " ")
            let terminal = try await TmuxSession.start(
                "sh -c 'stty -a > /dev/null; \(command); echo client-exit=$?; stty -a | grep -o -- \"-*icanon \"; sleep 120'"
            )
            defer { terminal.kill() }
            #expect(try await terminal.waitForShell(), "the remote shell never answered")
            try await terminal.keys("PS1='remote> '; tty; stty size", "Enter")
            try await terminal.waitFor("/dev/pts/")
            try await terminal.waitFor("30 100")
            try await terminal.resize(cols: 90, rows: 20)
            try await terminal.keys("stty size", "Enter")
            try await terminal.waitFor("20 90")
            // Each key goes only once the command runs: the terminal discards input queued before an interrupt.
            try await terminal.keys("echo sleeping-$((1 + 1)); sleep 60", "Enter")
            try await terminal.waitFor("sleeping-2")
            try await terminal.keys("C-c")
            try await terminal.keys("echo after-$((40 + 2))", "Enter")
            try await terminal.waitFor("after-42")
            // Ctrl-Z stops a job in the remote shell, which then has job control.
            try await terminal.keys("echo sleeping-$((3 + 4)); sleep 70", "Enter")
            try await terminal.waitFor("sleeping-7")
            try await terminal.keys("C-z")
            try await terminal.waitFor("Stopped")
            try await terminal.keys("kill -9 %1; echo killed-$((6 * 7))", "Enter")
            try await terminal.waitFor("killed-42")
            try await terminal.keys("exit 3", "Enter")
            try await terminal.waitFor("client-exit=3")
            // The local terminal is back in canonical mode.
            try await terminal.waitFor("icanon")
            #expect(try await !terminal.screen().contains("-icanon"))
        }
    }
}

extension CommandLineTests {
    @Test func dashTWithoutATerminalSaysSoAndDashTTForcesOne() async throws {
        try await withTestServer { server in
            let refused = try await TestProcess.run(porter("exec", server, ["-t", "--", "tty"]))
            #expect(refused.errors.contains("Pseudo-terminal will not be allocated because stdin is not a terminal"))
            #expect(refused.output == "not a tty\n")
            let forced = try await TestProcess.run(porter("exec", server, ["-tt", "--", "tty"]))
            #expect(forced.output.hasPrefix("/dev/pts/"), "\(forced.output) \(forced.errors)")
            #expect(forced.status == 0)
        }
    }
}

extension CommandLineTests {
    @Test func aListenerThatCannotBindNamesItsAddress() async throws {
        try await withTestServer { server in
            // The test server holds this port: the HTTP endpoint cannot have it.
            let taken = "\(server.endpoint)"
            let run = try await TestProcess.run([
                TestProcess.porter, "serve", "--listen", "127.0.0.1:0", "--plaintext", "--token-file", Self.tokenFile,
                "--http", taken,
            ])
            #expect(run.status == 1)
            #expect(run.errors.contains("porter: cannot listen for --http on \(taken): Address already in use"))
            // One line for the failure (the server's start-up warnings, such as running as root, are log lines).
            #expect(run.errors.split(separator: "\n").filter { $0.hasPrefix("porter:") }.count == 1, "\(run.errors)")
        }
    }
}

extension CommandLineTests {
    @Test func aClassicPortWithoutClassicIsAUsageError() async throws {
        let identity = temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: identity) }
        let run = try await TestProcess.run([
            TestProcess.porter, "serve", "--identity", identity, "--print-fingerprint", "--classic-port", "echo=9000",
        ])
        #expect(run.status == 64)
        #expect(run.errors.hasPrefix("Error: --classic-port moves a classic listener: add --classic"))
    }

    @Test func aWeakTokenAndRunningAsRootAreWarnedAbout() async throws {
        let token = temporaryFile()
        let errors = temporaryFile()
        _ = FileManager.default.createFile(
            atPath: token, contents: Data("secret\n".utf8), attributes: [.posixPermissions: 0o600])
        defer { for path in [token, errors] { try? FileManager.default.removeItem(atPath: path) } }
        let server = try TestProcess.start(
            [TestProcess.porter, "serve", "--listen", "127.0.0.1:0", "--plaintext", "--token-file", token],
            errors: errors)
        do {
            try await waitUntil(seconds: 20) {
                (try? String(contentsOfFile: errors, encoding: .utf8))?.contains("listening") == true
            }
        } catch {
            server.signal(SIGKILL)
            _ = try? await server.wait()
            throw error
        }
        server.signal(SIGTERM)
        _ = try await server.wait()
        let log = try String(contentsOfFile: errors, encoding: .utf8)
        #expect(log.contains("the token in \(token) is weak (it has 6 bytes, fewer than 16)"))
        #expect(log.contains("head -c 32 /dev/urandom | base64"))
        #expect(log.contains("running as root") == (geteuid() == 0))
    }
}
