import Foundation
import PorterProtocol
import Testing

@testable import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// `--json` on every client command, as a script reads it: every line of standard output is one JSON object with
/// an `event` field, nothing is written for a person, and the exit status is the usual one (docs/JSON.md).
@Suite(.timeLimit(.minutes(3))) struct JSONOutputTests {
    /// One event, as JSONSerialization reads it.
    typealias Event = [String: Any]

    /// A token file holding ``testToken``, mode 0600.
    private static let tokenFile: String = {
        let path = NSTemporaryDirectory() + "porter-json-token-\(UUID().uuidString)"
        _ = FileManager.default.createFile(
            atPath: path, contents: Data(testToken.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }()

    private func porter(_ command: String, _ server: TestServer, _ arguments: [String], token: String? = nil)
        -> [String]
    {
        [
            TestProcess.porter, command, "\(server.endpoint)", "--json", "--token-file", token ?? Self.tokenFile,
            "--fingerprint", "\(testIdentity.fingerprint)", "--connect-timeout", "\(Int(30 * testSlowdown))",
        ] + arguments
    }

    /// Runs `arguments` and parses every line of its standard output as one event; standard error must be empty.
    private func runJSON(_ arguments: [String], input: String = "/dev/null") async throws -> (
        status: Int32, events: [Event]
    ) {
        let run = try await TestProcess.run(arguments, input: input)
        #expect(run.errors.isEmpty, "nothing for a person on standard error with --json: \(run.errors)")
        #expect(run.output.hasSuffix("\n"), "every event ends its line")
        var events: [Event] = []
        for line in run.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            let event = try #require(object as? Event, "not a JSON object: \(line)")
            #expect(event["event"] is String, "no event field: \(line)")
            events.append(event)
        }
        return (run.status, events)
    }

    private func names(_ events: [Event]) -> [String] {
        events.map { $0["event"] as? String ?? "?" }
    }

    private func only(_ name: String, in events: [Event]) throws -> Event {
        let matching = events.filter { $0["event"] as? String == name }
        #expect(matching.count == 1, "one \(name) event in \(names(events))")
        return try #require(matching.first)
    }

    /// The bytes that the `data` of `stdout`, `stderr` or `reply` events of `name` carry, joined in order.
    private func bytes(_ name: String, in events: [Event]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for event in events where event["event"] as? String == name {
            let data = try #require(event["data"] as? String)
            switch event["encoding"] as? String {
            case "utf8": bytes += Array(data.utf8)
            case "base64": bytes += try #require(Data(base64Encoded: data), "bad base64: \(data)")
            default: Issue.record("unknown encoding in \(event)")
            }
        }
        return bytes
    }

    private func temporaryFile(_ contents: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "porter-json-\(UUID().uuidString)"
        try Data(contents).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func execReportsOutputAndTheExitAsEvents() async throws {
        try await withTestServer { server in
            let run = try await runJSON(porter("exec", server, ["--", "sh", "-c", "echo out; echo err >&2; exit 7"]))
            #expect(run.status == 7)
            #expect(names(run.events).first == "connected")
            #expect(names(run.events).suffix(2) == ["exit", "done"])
            let connected = try only("connected", in: run.events)
            #expect(connected["tls"] as? Bool == true)
            #expect(connected["fingerprint"] as? String == "\(testIdentity.fingerprint)")
            #expect(connected["auth"] as? String == "token")
            #expect(connected["key"] == nil)
            #expect(connected["server"] as? String == "test-host")
            #expect(connected["endpoint"] as? String == "\(server.endpoint)")
            #expect(connected["protocolVersion"] as? Int == 2)
            #expect(try bytes("stdout", in: run.events) == Array("out\n".utf8))
            #expect(try bytes("stderr", in: run.events) == Array("err\n".utf8))
            #expect(
                run.events.filter { $0["event"] as? String == "stdout" }.allSatisfy {
                    $0["encoding"] as? String == "utf8"
                })
            let exit = try only("exit", in: run.events)
            #expect(exit["status"] as? Int == 7)
            #expect(exit["exitStatus"] as? Int == 7)
            #expect(exit["signal"] == nil)
            #expect(exit["timedOut"] as? Bool == false)
            #expect(try only("done", in: run.events)["exitStatus"] as? Int == 7)

            let killed = try await runJSON(porter("exec", server, ["--", "sh", "-c", "kill -KILL $$"]))
            #expect(killed.status == 128 + SIGKILL)
            let signalled = try only("exit", in: killed.events)
            #expect(signalled["status"] == nil)
            #expect(signalled["signal"] as? String == "KILL")
            #expect(signalled["signalNumber"] as? Int == Int(SIGKILL))
            #expect(signalled["exitStatus"] as? Int == Int(128 + SIGKILL))
        }
    }

    /// Output that is not UTF-8 arrives as base64 and decodes to exactly the bytes written; text that is cut
    /// inside a character by the transport still arrives as text, the character whole.
    @Test func binaryOutputRoundTripsAndCutCharactersStayText() async throws {
        var random = [UInt8](repeating: 0, count: 300_000)
        var generator = SystemRandomNumberGenerator()
        for index in random.indices { random[index] = generator.next() }
        let randomBytes = random
        // Three-byte characters: 300 000 bytes cannot arrive in chunks that all end between two of them.
        let euros = Array(String(repeating: "€", count: 100_000).utf8)
        let mixed = Array("text, then ".utf8) + [0xFF, 0xC3] + Array(" and more\n".utf8)
        let files = try [randomBytes, euros, mixed].map(temporaryFile)
        defer { for file in files { try? FileManager.default.removeItem(atPath: file) } }
        try await withTestServer { server in
            let binary = try await runJSON(porter("exec", server, ["--", "cat", files[0]]))
            #expect(binary.status == 0)
            #expect(try bytes("stdout", in: binary.events) == randomBytes)
            #expect(binary.events.contains { $0["encoding"] as? String == "base64" })

            let text = try await runJSON(porter("exec", server, ["--", "sh", "-c", "cat \(files[1]) >&2"]))
            #expect(try bytes("stderr", in: text.events) == euros)
            let pieces = text.events.filter { $0["event"] as? String == "stderr" }
            #expect(pieces.allSatisfy { $0["encoding"] as? String == "utf8" })

            let both = try await runJSON(porter("exec", server, ["--", "cat", files[2]]))
            #expect(try bytes("stdout", in: both.events) == mixed)
        }
    }

    /// Control characters, quotes and backslashes are escaped so that each line stays one valid JSON object.
    @Test func textThatNeedsEscapingStaysOneLineOfJSON() async throws {
        let awkward = "a \"quoted\" \\ back\tslash\u{1}\r\n"
        let file = try temporaryFile(Array(awkward.utf8))
        defer { try? FileManager.default.removeItem(atPath: file) }
        try await withTestServer { server in
            let run = try await runJSON(porter("exec", server, ["--", "cat", file]))
            #expect(try bytes("stdout", in: run.events) == Array(awkward.utf8))
        }
    }

    @Test func shellWithJSONRunsOneCommandPerLineAsEvents() async throws {
        let input = try temporaryFile(Array("echo one\nsh -c 'exit 4'\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: input) }
        try await withTestServer { server in
            let run = try await runJSON(porter("shell", server, []), input: input)
            #expect(run.status == 4)
            #expect(
                names(run.events) == ["connected", "command", "stdout", "exit", "command", "exit", "done"])
            #expect(run.events[1]["command"] as? String == "echo one")
            #expect(run.events[5]["exitStatus"] as? Int == 4)
        }
    }

    @Test func putAndGetReportEachFileWithItsDigest() async throws {
        try await withTemporaryDirectory { directory in
            let served = directory + "/served"
            let local = directory + "/local"
            try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: local + "/tree/sub", withIntermediateDirectories: true)
            try writeRandomFile(local + "/data.bin", count: 3_000_000)
            try writeRandomFile(local + "/tree/one", count: 1000)
            try writeRandomFile(local + "/tree/sub/two", count: 2000)
            chmod(local + "/data.bin", 0o640)
            try await withTestServer(configure: { $0.root = served }) { server in
                let put = try await runJSON(
                    porter("put", server, [local + "/data.bin", "data.bin", "--checksum", "sha256"]))
                #expect(put.status == 0)
                #expect(names(put.events).first == "connected")
                #expect(names(put.events).suffix(2) == ["file", "done"])
                let file = try only("file", in: put.events)
                #expect(file["checksum"] as? String == "sha256")
                #expect(file["digest"] as? String == sha256(of: local + "/data.bin"))
                #expect(file["bytes"] as? Int == 3_000_000)
                #expect(file["mode"] as? String == "0640")
                let progress = put.events.filter { $0["event"] as? String == "progress" }
                #expect(progress.last?["bytes"] as? Int == 3_000_000)
                #expect(progress.last?["total"] as? Int == 3_000_000)
                let done = try only("done", in: put.events)
                #expect(done["files"] as? Int == 1)
                #expect(done["bytes"] as? Int == 3_000_000)
                #expect(done["exitStatus"] as? Int == 0)
                #expect(sha256(of: served + "/data.bin") == sha256(of: local + "/data.bin"))

                let get = try await runJSON(
                    porter("get", server, ["data.bin", directory + "/back.bin", "--no-progress"]))
                #expect(get.status == 0)
                #expect(names(get.events) == ["connected", "file", "done"])
                var digest = FileDigest(.xxh128)
                let contents = try Data(contentsOf: URL(fileURLWithPath: local + "/data.bin"))
                contents.withUnsafeBytes { digest.update($0) }
                #expect(try only("file", in: get.events)["digest"] as? String == digest.hex)
                #expect(try only("file", in: get.events)["checksum"] as? String == "xxh128")

                let tree = try await runJSON(porter("put", server, ["-r", local + "/tree", "tree"]))
                #expect(tree.status == 0)
                let files = tree.events.filter { $0["event"] as? String == "file" }
                #expect(Set(files.compactMap { $0["path"] as? String }) == ["one", "sub/two"])
                #expect(try only("done", in: tree.events)["files"] as? Int == 2)
                #expect(try only("done", in: tree.events)["directories"] as? Int == 2)
            }
        }
    }

    @Test func lsListsEntriesWithKindSizeModeAndTime() async throws {
        try await withTemporaryDirectory { served in
            try Data("hello".utf8).write(to: URL(fileURLWithPath: served + "/a.txt"))
            chmod(served + "/a.txt", 0o604)
            try FileManager.default.createDirectory(atPath: served + "/dir", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: served + "/link", withDestinationPath: "a.txt")
            var info = stat()
            stat(served + "/a.txt", &info)
            let mtime = Int(info.st_mtim.tv_sec)
            try await withTestServer(configure: { $0.root = served }) { server in
                let run = try await runJSON(porter("ls", server, []))
                #expect(run.status == 0)
                let entries = run.events.filter { $0["event"] as? String == "entry" }
                let byPath = Dictionary(
                    entries.map { ($0["path"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
                #expect(Set(byPath.keys) == ["a.txt", "dir", "link"])
                #expect(byPath["a.txt"]?["kind"] as? String == "file")
                #expect(byPath["a.txt"]?["size"] as? Int == 5)
                #expect(byPath["a.txt"]?["mode"] as? String == "0604")
                #expect(byPath["a.txt"]?["mtime"] as? Int == mtime)
                #expect(byPath["dir"]?["kind"] as? String == "directory")
                #expect(byPath["link"]?["kind"] as? String == "symlink")
                #expect(byPath["link"]?["target"] as? String == "a.txt")
                #expect(try only("done", in: run.events)["entries"] as? Int == 3)
            }
        }
    }

    @Test func helloEchoAndChatReportTheirResults() async throws {
        try await withTestServer { server in
            let hello = try await runJSON(porter("hello", server, ["--count", "3"]))
            #expect(hello.status == 0)
            #expect(names(hello.events) == ["connected", "rtt", "rtt", "rtt", "hello", "done"])
            let summary = try only("hello", in: hello.events)
            #expect(summary["pings"] as? Int == 3)
            #expect((summary["minMilliseconds"] as? Double ?? -1) >= 0)

            let echo = try await runJSON(porter("echo", server, ["héllo", "there"]))
            #expect(echo.status == 0)
            #expect(names(echo.events) == ["connected", "reply", "done"])
            #expect(try only("reply", in: echo.events)["data"] as? String == "HéLLO THERE")

            let input = try temporaryFile(Array("/who\n/nick\n".utf8))
            defer { try? FileManager.default.removeItem(atPath: input) }
            let chat = try await runJSON(porter("chat", server, ["--name", "ann"]), input: input)
            #expect(chat.status == 0)
            #expect(names(chat.events).first == "connected")
            #expect(names(chat.events).last == "done")
            let joined = try only("joined", in: chat.events)
            #expect(joined["name"] as? String == "ann" && joined["room"] as? String == "lobby")
            #expect(try only("members", in: chat.events)["names"] as? [String] == ["ann"])
            #expect(names(chat.events).contains("warning"))
        }
    }

    @Test func failuresAreErrorEventsWithTheUsualExitStatus() async throws {
        let wrongToken = try temporaryFile(Array("wrong-token".utf8))
        chmod(wrongToken, 0o600)
        defer { try? FileManager.default.removeItem(atPath: wrongToken) }
        try await withTestServer { server in
            let refused = try await runJSON(porter("exec", server, ["--", "true"], token: wrongToken))
            #expect(refused.status == 255)
            #expect(names(refused.events) == ["error"])
            #expect(refused.events.first?["kind"] as? String == "auth")
            #expect(refused.events.first?["exitStatus"] as? Int == 255)
            #expect((refused.events.first?["message"] as? String)?.isEmpty == false)

            let missing = try await runJSON(porter("get", server, ["no-such-file", NSTemporaryDirectory()]))
            #expect(missing.status == 1)
            #expect(names(missing.events) == ["connected", "error"])
            #expect(missing.events.last?["kind"] as? String == "refused")
            #expect(missing.events.last?["code"] as? String == "not-found")
            #expect(missing.events.last?["exitStatus"] as? Int == 1)

            let usage = try await runJSON(porter("exec", server, ["--env", "NOEQUALS", "--", "true"]))
            #expect(usage.status == 64)
            #expect(names(usage.events) == ["error"])
            #expect(usage.events.first?["kind"] as? String == "usage")
            let unknown = try await runJSON(porter("ls", server, ["--no-such-option"]))
            #expect(unknown.status == 64 && unknown.events.first?["kind"] as? String == "usage")
        }
        let unreachable = try await runJSON([
            TestProcess.porter, "hello", "127.0.0.1:1", "--json", "--token-file", wrongToken,
        ])
        #expect(unreachable.status == 255)
        #expect(unreachable.events.first?["kind"] as? String == "connection")
    }

    @Test func udpEchoReportsEachReply() async throws {
        let configure: (inout ServerConfiguration) -> Void = { $0.udp = .tcp(host: "127.0.0.1", port: 0) }
        try await withTestServer(configure: configure) { server in
            let port = try server.port(of: "udp echo")
            let run = try await runJSON([
                TestProcess.porter, "udp", "echo", "127.0.0.1:\(port)", "héllo", "udp", "--json", "--timeout",
                "\(Int(5 * testSlowdown))",
            ])
            #expect(run.status == 0)
            #expect(names(run.events) == ["reply", "reply", "done"])
            #expect(try bytes("reply", in: run.events) == Array("HéLLOUDP".utf8))
            #expect(run.events.first?["tries"] as? Int == 1)
            #expect(try only("done", in: run.events)["replies"] as? Int == 2)
        }
    }
}
