import Foundation
import Porter
import Testing

@testable import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// `porter get` and `porter put` as processes that get killed: nothing corrupt under a final name, and
/// `--resume` finishes the job exactly.
@Suite(.timeLimit(.minutes(4))) struct FileCommandLineTests {
    /// Large enough that a transfer is still running when it is killed.
    private static let size = 200_000_000

    private static let tokenFile: String = {
        let path = NSTemporaryDirectory() + "porter-files-token-\(UUID().uuidString)"
        _ = FileManager.default.createFile(
            atPath: path, contents: Data(testToken.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }()

    private func porter(_ command: String, _ endpoint: String, _ arguments: [String]) -> [String] {
        [
            TestProcess.porter, command, endpoint, "--token-file", Self.tokenFile, "--plaintext", "--connect-timeout",
            "\(Int(30 * testSlowdown))",
        ]
            + (command == "ls" ? [] : ["--no-progress"]) + arguments
    }

    private func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    /// Waits until `file` is larger than `size` while `client` runs; a client that ends first fails the test with
    /// what it wrote to `errors`, rather than leaving the wait to time out.
    private func waitFor(_ file: String, growsBeyond size: Int, while client: TestProcess, errors: String)
        async throws
    {
        let pid = client.pid
        let exited = Locked<Int32?>(nil)
        try await waitUntil(seconds: 90) {
            if fileSize(file) > size { return true }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return false }
            exited.withLock { $0 = status }
            return true
        }
        if let status = exited.withLock({ $0 }) {
            let text = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
            throw TestFailure(
                "the client ended (wait status \(status)) before \(file) grew past \(size) bytes: \(text)")
        }
    }

    /// Runs `body` with the endpoint of a relay to `endpoint` that passes on one read at a time, 10 ms apart
    /// (about 6 MB/s): a transfer through it is still running when the test kills one end, however fast the
    /// machine is.
    private func withSlowLink(to endpoint: String, _ body: (String) async throws -> Void) async throws {
        try await withRelay(to: try Endpoint(parsing: endpoint), pause: .milliseconds(10)) { relay in
            try await body("\(relay)")
        }
    }

    /// Starts `porter serve` on a free port with `root`; returns it and its endpoint once it listens.
    private func startServer(root: String, log: String, errors: String = "/dev/null", options: [String] = [])
        async throws -> (TestProcess, String)
    {
        let server = try TestProcess.start(
            [
                TestProcess.porter, "serve", "--listen", "127.0.0.1:0", "--plaintext", "--root", root,
                "--token-file", Self.tokenFile,
            ] + options, output: log, errors: errors)
        let endpoint = { @Sendable () -> String? in
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            guard let range = text.range(of: "listening on ") else { return nil }
            return text[range.upperBound...].split(separator: " ").first.map(String.init)
        }
        try await waitUntil(seconds: 20) { endpoint() != nil }
        return (server, endpoint() ?? "")
    }

    /// A download under way: `porter serve` (with `options`) serves `size` random bytes as `big` from
    /// `base/root`, and `porter get` fetches it to `base/big` through a slow link. `body` runs once the partial file
    /// has passed 1 MB, with the directory, the server, its endpoint and the client; both processes are killed
    /// after it.
    private func withDownloadUnderWay(
        size: Int, options: [String] = [], _ body: (String, TestProcess, String, TestProcess) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { base in
            try FileManager.default.createDirectory(atPath: base + "/root", withIntermediateDirectories: true)
            try writeRandomFile(base + "/root/big", count: size)
            let (server, endpoint) = try await startServer(
                root: base + "/root", log: base + "/serve.log", errors: base + "/serve.errors", options: options)
            defer {
                server.signal(SIGKILL)
                _ = try? awaitExit(server)
            }
            let part = base + "/" + IncomingFile.partName(for: "big")
            try await withSlowLink(to: endpoint) { slow in
                let client = try TestProcess.start(
                    porter("get", slow, ["big", base + "/big"]), errors: base + "/get.errors")
                defer {
                    client.signal(SIGKILL)
                    _ = try? awaitExit(client)
                }
                try await waitFor(part, growsBeyond: 1_000_000, while: client, errors: base + "/get.errors")
                try await body(base, server, endpoint, client)
            }
        }
    }

    @Test func aDownloadRunningWhenTheServerIsToldToStopArrivesExactAndTheServerThenExits() async throws {
        try await withDownloadUnderWay(size: 24_000_000, options: ["--shutdown-grace", "300"]) {
            base, server, _, client in
            server.signal(SIGTERM)
            let status = try await client.wait(seconds: 120)
            let said = (try? String(contentsOfFile: base + "/get.errors", encoding: .utf8)) ?? ""
            #expect(status == 0, "\(said)")
            #expect(sha256(of: base + "/big") == sha256(of: base + "/root/big"))
            // Its one connection done, the server exits by itself.
            #expect(try await server.wait() == 0)
            let log = try String(contentsOfFile: base + "/serve.errors", encoding: .utf8)
            #expect(log.contains("shutting down"), "\(log)")
        }
    }

    @Test func aSecondSignalEndsTheGracePeriodAtOnce() async throws {
        try await withTemporaryDirectory { base in
            let errors = base + "/serve.errors"
            let (server, endpoint) = try await startServer(
                root: base, log: base + "/serve.log", errors: errors, options: ["--shutdown-grace", "300"])
            defer {
                server.signal(SIGKILL)
                _ = try? awaitExit(server)
            }
            let client = try TestProcess.start(
                [
                    TestProcess.porter, "exec", endpoint, "--token-file", Self.tokenFile, "--plaintext", "--", "sh",
                    "-c", "echo started; exec sleep 600",
                ], output: base + "/exec.out", errors: base + "/exec.errors")
            try await waitUntil {
                (try? String(contentsOfFile: base + "/exec.out", encoding: .utf8)) == "started\n"
            }
            server.signal(SIGTERM)
            try await waitUntil {
                (try? String(contentsOfFile: errors, encoding: .utf8))?.contains("shutting down") == true
            }
            server.signal(SIGTERM)
            #expect(try await client.wait() == 255)
            let said = try String(contentsOfFile: base + "/exec.errors", encoding: .utf8)
            #expect(said.contains("the server is shutting down"), "\(said)")
            #expect(try await server.wait() == 0)
        }
    }

    @Test func aKilledDownloadResumesToTheExactFile() async throws {
        try await withDownloadUnderWay(size: Self.size) { base, _, endpoint, client in
            client.signal(SIGKILL)
            _ = try await client.wait()
            let part = base + "/" + IncomingFile.partName(for: "big")
            #expect(!FileManager.default.fileExists(atPath: base + "/big"))
            let kept = fileSize(part)
            #expect(kept > 0 && kept < Self.size)
            let resumed = try await TestProcess.run(porter("get", endpoint, ["big", base + "/big", "--resume"]))
            #expect(resumed.status == 0, "\(resumed.errors)")
            #expect(resumed.errors.contains("the rest resumed"), "\(resumed.errors)")
            #expect(sha256(of: base + "/big") == sha256(of: base + "/root/big"))
            #expect(!FileManager.default.fileExists(atPath: part))
        }
    }

    @Test func aKilledUploadResumesAndAKilledServerLeavesNothingUnderTheFinalName() async throws {
        try await withTemporaryDirectory { base in
            try FileManager.default.createDirectory(atPath: base + "/root", withIntermediateDirectories: true)
            try writeRandomFile(base + "/big", count: Self.size)
            let part = base + "/root/" + IncomingFile.partName(for: "big")
            var (server, endpoint) = try await startServer(root: base + "/root", log: base + "/serve1.log")

            try await withSlowLink(to: endpoint) { slow in
                // The client dies mid-upload: the server keeps the partial file, and nothing under the final name.
                let client = try TestProcess.start(porter("put", slow, [base + "/big"]), errors: base + "/put.errors")
                try await waitFor(part, growsBeyond: 1_000_000, while: client, errors: base + "/put.errors")
                client.signal(SIGKILL)
                _ = try await client.wait()

                // The server dies mid-upload, during a resumed upload. (Resuming first hashes the part already
                // there, which takes a debug build a while on a loaded machine: the waits are generous.)
                let second = try TestProcess.start(
                    porter("put", slow, [base + "/big", "--resume"]), errors: base + "/resume.errors")
                let before = fileSize(part)
                try await waitFor(
                    part, growsBeyond: before + 1_000_000, while: second, errors: base + "/resume.errors")
                server.signal(SIGKILL)
                _ = try await server.wait()
                #expect(try await second.wait() == 255)
            }
            #expect(!FileManager.default.fileExists(atPath: base + "/root/big"))

            (server, endpoint) = try await startServer(root: base + "/root", log: base + "/serve2.log")
            defer {
                server.signal(SIGKILL)
                _ = try? awaitExit(server)
            }
            let resumed = try await TestProcess.run(porter("put", endpoint, [base + "/big", "--resume"]))
            #expect(resumed.status == 0, "\(resumed.errors)")
            #expect(resumed.errors.contains("the rest resumed"), "\(resumed.errors)")
            #expect(sha256(of: base + "/root/big") == sha256(of: base + "/big"))
            #expect(!FileManager.default.fileExists(atPath: part))
        }
    }

    @Test func lsListsNamesSizesAndModesAndGetWithoutATerminalPrintsNoProgress() async throws {
        try await withTemporaryDirectory { base in
            try FileManager.default.createDirectory(atPath: base + "/root/dir", withIntermediateDirectories: true)
            try writeRandomFile(base + "/root/dir/file one", count: 1234)
            chmod(base + "/root/dir/file one", 0o640)
            let (server, endpoint) = try await startServer(root: base + "/root", log: base + "/serve.log")
            defer {
                server.signal(SIGKILL)
                _ = try? awaitExit(server)
            }
            let listing = try await TestProcess.run(porter("ls", endpoint, ["dir"]))
            #expect(listing.status == 0)
            #expect(listing.output.contains("-rw-r-----"))
            #expect(listing.output.contains(" 1234 "))
            #expect(listing.output.hasSuffix("file one\n"))
            let get = try await TestProcess.run(
                [
                    TestProcess.porter, "get", endpoint, "dir/file one", base + "/copy", "--token-file", Self.tokenFile,
                    "--plaintext", "--checksum", "sha256",
                ])
            #expect(get.status == 0)
            #expect(!get.errors.contains("\r"), "no progress bar when stderr is not a terminal")
            #expect(get.errors.hasPrefix("porter: got 1 file, 1.2 KiB"))
            #expect(get.errors.hasSuffix(", sha256 \(sha256(of: base + "/copy") ?? "-")\n"))
            let missing = try await TestProcess.run(porter("get", endpoint, ["nope", base + "/nope"]))
            #expect(missing.status == 1)
            #expect(missing.errors == "porter: server: 'nope': no such file or directory\n")
            #expect(!FileManager.default.fileExists(atPath: base + "/" + IncomingFile.partName(for: "nope")))
        }
    }

    /// A directory named without `-r`, on either side (the server's root too), is refused with a hint; a name
    /// that is not UTF-8 is refused naming its bytes, not turned into another name.
    @Test func directoriesWithoutRAndNamesThatAreNotUTF8AreRefusedClearly() async throws {
        try await withTemporaryDirectory { base in
            try FileManager.default.createDirectory(atPath: base + "/root/dir", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: base + "/local", withIntermediateDirectories: true)
            let (server, endpoint) = try await startServer(root: base + "/root", log: base + "/serve.log")
            defer {
                server.signal(SIGKILL)
                _ = try? awaitExit(server)
            }
            let remote = try await TestProcess.run(porter("get", endpoint, ["dir", base + "/got"]))
            #expect(remote.status == 1)
            #expect(remote.errors == "porter: 'dir' is a directory on the server; use -r to copy a tree\n")
            for (command, arguments) in [("get", ["."]), ("put", [base + "/local"])] {
                let run = try await TestProcess.run(porter(command, endpoint, arguments))
                #expect(run.status == 64)
                #expect(run.errors.contains("is a directory"), "\(run.errors)")
                #expect(run.errors.contains("; use -r to copy a tree"), "\(run.errors)")
            }
            let root = try await TestProcess.run(porter("get", endpoint, ["."]))
            #expect(root.errors.contains("'.' is a directory (the server's root); use -r"))
            // The arguments go through a shell, which can pass bytes that are not UTF-8.
            let shell = porter("put", endpoint, []).map { "'\($0)'" }.joined(separator: " ")
            try Data("x".utf8).write(to: URL(fileURLWithPath: base + "/local/bad\u{FFFD}name"))
            for script in [
                "printf x > \"$(printf 'bad\\377name')\" && exec \(shell) \"$(printf 'bad\\377name')\"",
                "exec \(shell.replacingOccurrences(of: "'put'", with: "'get'")) \"$(printf 'r\\377name')\"",
            ] {
                let run = try await TestProcess.run(["/bin/sh", "-c", "cd '\(base)/local' && " + script])
                #expect(run.status == 64)
                #expect(run.errors.contains("\\xFFname' is not valid UTF-8"), "\(run.errors)")
            }
            #expect(tree(base + "/root") == ["dir"])
            // A tree's summary counts what it skipped, after a line naming each.
            try FileManager.default.createSymbolicLink(atPath: base + "/local/up", withDestinationPath: "..")
            try FileManager.default.createSymbolicLink(atPath: base + "/local/out", withDestinationPath: "up/..")
            let tree = try await TestProcess.run(porter("put", endpoint, ["-r", base + "/local", "copy"]))
            #expect(tree.status == 0)
            #expect(tree.errors.contains("porter: skipped symlink 'out' -> 'up/..': its target has '..' after a name"))
            #expect(tree.errors.contains("porter: skipped symlink 'up' -> '..': its target climbs above"))
            // The file that is not UTF-8, made by the shell above, is the third.
            #expect(tree.errors.contains("porter: put 1 file, 1 directory, 3 skipped, "), "\(tree.errors)")
        }
    }

    /// On a terminal (`script` gives one) a progress bar is drawn on standard error; `--no-progress` drops it.
    @Test(.enabled(if: toolAvailable("script"), "needs script(1)"))
    func aProgressBarIsDrawnOnlyOnATerminal() async throws {
        try await withTemporaryDirectory { base in
            try FileManager.default.createDirectory(atPath: base + "/root", withIntermediateDirectories: true)
            try writeRandomFile(base + "/root/file", count: 20_000_000)
            let (server, endpoint) = try await startServer(root: base + "/root", log: base + "/serve.log")
            defer {
                server.signal(SIGKILL)
                _ = try? awaitExit(server)
            }
            for quiet in [false, true] {
                var command = [
                    TestProcess.porter, "get", endpoint, "file", base + "/copy", "--token-file", Self.tokenFile,
                    "--plaintext",
                ]
                if quiet { command.append("--no-progress") }
                let typescript = base + "/typescript"
                let run = try await TestProcess.run(
                    ["script", "-q", "-e", "-c", command.joined(separator: " "), typescript])
                #expect(run.status == 0)
                let screen = (try? String(contentsOfFile: typescript, encoding: .utf8)) ?? ""
                #expect(screen.contains("porter: got 1 file, 19.1 MiB"))
                #expect(
                    screen.contains("\r\u{1B}[Kcopy  100% 19.1 MiB/19.1 MiB") != quiet, "\(screen.debugDescription)")
            }
        }
    }

    /// Reaps a killed process without waiting long.
    private func awaitExit(_ process: TestProcess) throws {
        var status: Int32 = 0
        waitpid(process.pid, &status, 0)
    }
}
