import Foundation
import Porter
import PorterProtocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Servers named in the client config file, as people use them: `porter exec NAME` with no other flag, groups,
/// `porter config check`, and the errors.
@Suite(.timeLimit(.minutes(3))) struct NamedServerCommandTests {
    private let porter = TestProcess.porter
    private let timeout = "\(Int(30 * testSlowdown))"

    /// Writes ``testToken`` to `directory/token` (mode 0600) and `text` to `directory/config`; returns the
    /// config file's path.
    private func writeConfig(in directory: String, _ text: String) throws -> String {
        _ = FileManager.default.createFile(
            atPath: directory + "/token", contents: Data(testToken.utf8), attributes: [.posixPermissions: 0o600])
        try text.write(toFile: directory + "/config", atomically: false, encoding: .utf8)
        return directory + "/config"
    }

    /// A host block for `server`, pinned to ``testIdentity``, with the token file next to the config file.
    private func host(_ name: String, _ server: TestServer) -> String {
        """
        host \(name)
            endpoint \(server.endpoint)
            fingerprint \(testIdentity.fingerprint)
            token-file token
            connect-timeout \(timeout)

        """
    }

    /// Serves `directory/a` and `directory/b`, each holding its `files` (name: contents), and runs `body` with a
    /// config file naming them `web1` and `web2`, a host `down` where nothing listens, and the groups `web` (web1,
    /// web2) and `all` (web1, down, web2).
    private func withGroups(
        in directory: String, files: [String: [String: [UInt8]]], _ body: @Sendable (String) async throws -> Void
    ) async throws {
        for root in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: directory + "/" + root, withIntermediateDirectories: true)
            for (name, contents) in files[root] ?? [:] {
                try Data(contents).write(to: URL(fileURLWithPath: directory + "/\(root)/\(name)"))
            }
        }
        @Sendable func serving(_ root: String) -> (inout ServerConfiguration) -> Void {
            { $0.root = directory + "/" + root }
        }
        try await withTestServer(configure: serving("a")) { a in
            try await withTestServer(configure: serving("b")) { b in
                try await body(
                    try writeConfig(
                        in: directory,
                        host("web1", a) + host("web2", b)
                            + "host down\n    endpoint 127.0.0.1:1\n    token-file token\n"
                            + "group web web1 web2\ngroup all web1 down web2\n"))
            }
        }
    }

    /// `arguments` with a clean environment for the config and token: `HOME` set to `home`.
    private func withHome(_ home: String, _ arguments: [String]) -> [String] {
        ["env", "-u", "PORTER_CONFIG", "-u", "PORTER_TOKEN", "HOME=\(home)"] + arguments
    }

    @Test func aNameFromTheFileNeedsNoOtherFlag() async throws {
        try await withTemporaryDirectory { directory in
            try await withTestServer { server in
                let config = try writeConfig(in: directory, "# test servers\n" + host("web1", server))
                let byOption = try await TestProcess.run([
                    porter, "exec", "web1", "--config", config, "--", "echo", "hi",
                ])
                #expect(byOption.status == 0 && byOption.output == "hi\n", "\(byOption.errors)")
                let byEnvironment = try await TestProcess.run(
                    withHome(directory, ["PORTER_CONFIG=\(config)", porter, "exec", "web1", "--", "echo", "hi"]))
                #expect(byEnvironment.status == 0 && byEnvironment.output == "hi\n", "\(byEnvironment.errors)")
                // The default file, ~/.porter/config, with the token file under ~.
                let home = directory + "/home"
                try FileManager.default.createDirectory(atPath: home + "/.porter", withIntermediateDirectories: true)
                try host("web1", server).replacingOccurrences(of: "token-file token", with: "token-file ~/secret")
                    .write(toFile: home + "/.porter/config", atomically: false, encoding: .utf8)
                try FileManager.default.copyItem(atPath: directory + "/token", toPath: home + "/secret")
                let byDefault = try await TestProcess.run(withHome(home, [porter, "exec", "web1", "--", "echo", "hi"]))
                #expect(byDefault.status == 0 && byDefault.output == "hi\n", "\(byDefault.errors)")
                // Every client command takes the name.
                let hello = try await TestProcess.run(withHome(home, [porter, "hello", "web1", "-c", "1"]))
                #expect(hello.status == 0 && hello.output.hasPrefix("hello from test-host"), "\(hello.errors)")
            }
        }
    }

    @Test func theCommandLineWinsOverTheFileAndTheFilesFingerprintPins() async throws {
        try await withTemporaryDirectory { directory in
            try await withTestServer { server in
                let unpinned = host("web0", server).replacingOccurrences(
                    of: "fingerprint \(testIdentity.fingerprint)", with: "")
                let config = try writeConfig(in: directory, host("web1", server) + unpinned)
                let wrongToken = directory + "/wrong"
                _ = FileManager.default.createFile(
                    atPath: wrongToken, contents: Data("wrong".utf8), attributes: [.posixPermissions: 0o600])
                // HOME holds no known hosts and no identity, so only a pin lets a client in.
                let home = directory + "/empty"
                try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
                func exec(_ name: String, _ options: [String] = []) async throws -> (status: Int32, errors: String) {
                    let run = try await TestProcess.run(
                        withHome(home, [porter, "exec", name, "--config", config] + options + ["--", "true"]))
                    return (run.status, run.errors)
                }
                #expect(try await exec("web1").status == 0)
                let unknown = try await exec("web0")
                #expect(unknown.status == 255 && unknown.errors.contains("is not known"), "\(unknown.errors)")
                #expect(try await exec("web0", ["--fingerprint", "\(testIdentity.fingerprint)"]).status == 0)
                let otherIdentity = Fingerprint(subjectPublicKeyInfo: [1, 2, 3])
                let impostor = try await exec("web1", ["--fingerprint", "\(otherIdentity)"])
                #expect(impostor.status == 255, "\(impostor.errors)")
                let refused = try await exec("web1", ["--token-file", wrongToken])
                #expect(refused.status == 255 && refused.errors.hasPrefix("porter: "), "\(refused.errors)")
            }
        }
    }

    @Test func aGroupRunsOnEveryMemberWithPrefixedLinesAndTheHighestStatus() async throws {
        try await withTemporaryDirectory { directory in
            // Each server's root holds the status its members' command exits with.
            let files = ["a": ["code": Array("0".utf8)], "b": ["code": Array("3".utf8)]]
            try await withGroups(in: directory, files: files) { config in
                let script = "echo out; printf 'no newline'; echo err >&2; exit $(cat code)"
                let run = try await TestProcess.run(
                    [porter, "exec", "web", "--config", config, "--", "sh", "-c", script],
                    input: directory + "/config")
                #expect(run.status == 3, "\(run.errors)")
                let lines = run.output.split(separator: "\n").sorted()
                #expect(lines == ["web1: no newline", "web1: out", "web2: no newline", "web2: out"])
                #expect(run.errors.split(separator: "\n").sorted() == ["web1: err", "web2: err"])
                // Standard input is not forwarded to a group: `cat` reads nothing.
                let cat = try await TestProcess.run(
                    [porter, "exec", "web", "--config", config, "--", "cat"], input: directory + "/config")
                #expect(cat.status == 0 && cat.output.isEmpty, "\(cat.errors)")
                // A member that cannot be reached says so in its own line; the others carry on.
                let all = try await TestProcess.run(
                    [porter, "exec", "all", "--config", config, "--", "sh", "-c", "exit $(cat code)"])
                #expect(all.status == 255)
                #expect(all.errors.hasPrefix("down: porter: cannot connect to 127.0.0.1:1"), "\(all.errors)")
                let hello = try await TestProcess.run([porter, "hello", "web", "--config", config, "-c", "1"])
                #expect(hello.status == 0, "\(hello.errors)")
                for name in ["web1", "web2"] {
                    #expect(hello.output.contains("\(name): hello from test-host"))
                    #expect(hello.output.contains("\(name): round trip: "))
                }
                // Other commands take one server.
                let ls = try await TestProcess.run([porter, "ls", "web", "--config", config])
                #expect(ls.status == 64)
                #expect(
                    ls.errors
                        == "porter: web is a group in \(config): only `porter exec` and `porter hello` run on a group; give one of its hosts (web1, web2)\n"
                )
                let shell = try await TestProcess.run([porter, "exec", "web", "--config", config])
                #expect(shell.status == 64 && shell.errors.contains("give a command after --"))
            }
        }
    }

    /// Every line of `output` parsed as one `--json` event.
    private func events(_ output: String) throws -> [[String: Any]] {
        #expect(output.hasSuffix("\n"), "every event ends its line")
        return try output.split(separator: "\n").map { line in
            try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not an object: \(line)")
        }
    }

    /// The events of `host`, in order.
    private func events(of host: String, in events: [[String: Any]]) -> [[String: Any]] {
        events.filter { $0["host"] as? String == host }
    }

    /// The names of `events`, in order.
    private func names(_ events: [[String: Any]]) -> [String] {
        events.map { $0["event"] as? String ?? "?" }
    }

    /// The bytes the `stdout` events among `events` carry, joined in order.
    private func standardOutput(_ events: [[String: Any]]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for event in events where event["event"] as? String == "stdout" {
            let data = try #require(event["data"] as? String)
            bytes +=
                event["encoding"] as? String == "base64"
                ? Array(try #require(Data(base64Encoded: data))) : Array(data.utf8)
        }
        return bytes
    }

    @Test func aGroupWithJSONGivesEveryEventOfAMemberItsHostAndEndsWithOneDone() async throws {
        try await withTemporaryDirectory { directory in
            // Each server's root holds what its members' command prints (web2's is not UTF-8) and its exit status.
            let files = [
                "a": ["out": Array("from a\n".utf8), "code": Array("0".utf8)],
                "b": ["out": Array("from b \u{1}".utf8) + [0xFF, 10], "code": Array("3".utf8)],
            ]
            try await withGroups(in: directory, files: files) { config in
                let script = "cat out; echo err >&2; exit $(cat code)"
                let run = try await TestProcess.run([
                    porter, "exec", "web", "--config", config, "--json", "--", "sh", "-c", script,
                ])
                #expect(run.status == 3)
                #expect(run.errors.isEmpty, "nothing for a person with --json: \(run.errors)")
                let all = try events(run.output)
                #expect(names(all).last == "done")
                let done = try #require(all.last)
                #expect(done["host"] == nil && done["exitStatus"] as? Int == 3 && done["members"] as? Int == 2)
                #expect(all.dropLast().allSatisfy { ["web1", "web2"].contains($0["host"] as? String ?? "") })
                for (name, output, status) in [
                    ("web1", Array("from a\n".utf8), 0), ("web2", Array("from b \u{1}".utf8) + [0xFF, 10], 3),
                ] {
                    let member = events(of: name, in: all)
                    #expect(names(member).first == "connected", "\(names(member))")
                    #expect(names(member).last == "exit", "\(names(member))")
                    #expect(names(member).filter { $0 == "connected" }.count == 1)
                    #expect(try standardOutput(member) == output)
                    #expect(
                        member.contains { $0["event"] as? String == "stderr" && $0["data"] as? String == "err\n" })
                    let exit = try #require(member.last)
                    #expect(exit["status"] as? Int == status && exit["exitStatus"] as? Int == status)
                }
                #expect(events(of: "web2", in: all).contains { $0["encoding"] as? String == "base64" })

                // A member that cannot be reached is an error event of its own; the others carry on.
                let withDown = try await TestProcess.run([
                    porter, "exec", "all", "--config", config, "--json", "--", "true",
                ])
                #expect(withDown.status == 255 && withDown.errors.isEmpty, "\(withDown.errors)")
                let downEvents = try events(withDown.output)
                #expect(names(events(of: "down", in: downEvents)) == ["error"])
                let error = try #require(events(of: "down", in: downEvents).first)
                #expect(error["kind"] as? String == "connection" && error["exitStatus"] as? Int == 255)
                #expect((error["message"] as? String)?.hasPrefix("cannot connect to 127.0.0.1:1") == true)
                for name in ["web1", "web2"] {
                    #expect(names(events(of: name, in: downEvents)) == ["connected", "exit"])
                }
                let last = try #require(downEvents.last)
                #expect(last["event"] as? String == "done" && last["host"] == nil)
                #expect(last["exitStatus"] as? Int == 255 && last["members"] as? Int == 3)

                let hello = try await TestProcess.run([
                    porter, "hello", "web", "--config", config, "--json", "-c", "2",
                ])
                #expect(hello.status == 0 && hello.errors.isEmpty, "\(hello.errors)")
                let greeted = try events(hello.output)
                for name in ["web1", "web2"] {
                    #expect(names(events(of: name, in: greeted)) == ["connected", "rtt", "rtt", "hello"])
                }
                #expect(names(greeted).last == "done" && greeted.last?["host"] == nil)
                #expect(greeted.last?["exitStatus"] as? Int == 0 && greeted.last?["members"] as? Int == 2)

                // The group's usage errors are events too.
                let shell = try await TestProcess.run([porter, "exec", "web", "--config", config, "--json"])
                #expect(shell.status == 64 && shell.errors.isEmpty)
                let usage = try events(shell.output)
                #expect(names(usage) == ["error"] && usage.first?["kind"] as? String == "usage")
            }
        }
    }

    @Test func configCheckSummarisesAGoodFileAndGivesTheOneMistakeOfABadOne() async throws {
        try await withTemporaryDirectory { directory in
            let config = try writeConfig(
                in: directory,
                """
                host web1
                    endpoint 127.0.0.1:7070
                    fingerprint \(testIdentity.fingerprint)
                    token-file token
                    connect-timeout 5
                host web2
                    endpoint unix:/tmp/porter.sock
                group web web1 web2

                """)
            let good = try await TestProcess.run([porter, "config", "check", "--config", config])
            #expect(good.status == 0, "\(good.errors)")
            #expect(
                good.output == """
                    \(config): 2 hosts, 1 group
                    host web1 endpoint 127.0.0.1:7070 fingerprint \(testIdentity.fingerprint) token-file \(directory)/token connect-timeout 5
                    host web2 endpoint unix:/tmp/porter.sock
                    group web web1 web2

                    """)
            try "host web1\n    endpont 127.0.0.1\n".write(toFile: config, atomically: false, encoding: .utf8)
            let mistake =
                "porter: \(config):2: unknown keyword 'endpont' (expected endpoint, fingerprint, token-file, key, connect-timeout, plaintext, host, group)\n"
            let bad = try await TestProcess.run([porter, "config", "check", "--config", config])
            #expect(bad.status == 64 && bad.errors == mistake && bad.output.isEmpty)
            // A client command with that file stops at the same line, before connecting anywhere.
            let exec = try await TestProcess.run([porter, "exec", "web1", "--config", config, "--", "true"])
            #expect(exec.status == 64 && exec.errors == mistake)
            let missing = try await TestProcess.run([porter, "config", "check", "--config", directory + "/none"])
            #expect(missing.status == 64)
            #expect(missing.errors == "porter: config file \(directory)/none (from --config) does not exist\n")
            // `config check` has no --json: asking for it is a usage error in text, as for `serve`.
            let json = try await TestProcess.run([porter, "config", "check", "--json", "--config", config])
            #expect(json.status == 64 && json.output.isEmpty && json.errors.contains("'--json'"), "\(json.errors)")
            // The default file may be missing.
            let none = try await TestProcess.run(withHome(directory, [porter, "config", "check"]))
            #expect(none.status == 0 && none.output == "~/.porter/config does not exist: no servers are named\n")
        }
    }

    /// In a network namespace of its own, where a name lookup cannot leave the machine, an unknown name that
    /// is no host either is one error naming the file.
    @Test(
        .enabled(if: getuid() == 0 && toolAvailable("unshare"), "needs unshare, as root"))
    func anUnknownNameThatIsNoHostNamesTheFile() async throws {
        try await withTemporaryDirectory { directory in
            let config = try writeConfig(in: directory, "host web1\n    endpoint 127.0.0.1:1\n")
            let named = try await TestProcess.run([
                "unshare", "-n", porter, "exec", "no-such-porter-host", "--config", config, "--token-file",
                directory + "/token", "--", "true",
            ])
            #expect(named.status == 255)
            #expect(
                named.errors.hasPrefix(
                    "porter: cannot connect to no-such-porter-host: it is neither a name in \(config) nor a host that resolves"
                ), "\(named.errors)")
            #expect(named.errors.filter { $0 == "\n" }.count == 1)
            let noFile = try await TestProcess.run(
                ["unshare", "-n"]
                    + withHome(
                        directory + "/nowhere",
                        [porter, "hello", "no-such-porter-host", "--token-file", directory + "/token"]))
            #expect(noFile.status == 255)
            #expect(
                noFile.errors.contains("neither a name in ~/.porter/config (there is no such file) nor a host"),
                "\(noFile.errors)")
        }
    }
}
