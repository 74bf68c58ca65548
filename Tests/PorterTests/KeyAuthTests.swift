import Foundation
import Logging
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// Keys per person: `porter keygen`, `--key`, ssh-agent, `serve --authorized-keys` and what each line's options
/// allow, against in-process servers.
@Suite(.timeLimit(.minutes(3))) struct KeyAuthTests {
    /// A fresh directory for one test's files.
    private func directory() throws -> String {
        let path = NSTemporaryDirectory() + "porter-keys-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func write(_ text: String, to path: String, mode: Int = 0o600) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode_t(mode))
    }

    /// A server with token authentication off that accepts the keys in `keys`; `root` is its root. Its audit log
    /// is `keys` + `.audit`, and every line of it must parse.
    private func withKeyServer<Result: Sendable>(
        keys: String, root: String? = nil, acceptsToken: Bool = false,
        _ body: @Sendable (TestServer) async throws -> Result
    ) async throws -> Result {
        let configure = { (configuration: inout ServerConfiguration) in
            configuration.acceptsToken = acceptsToken
            configuration.authorizedKeys = keys
            configuration.auditLog = keys + ".audit"
            if let root { configuration.root = root }
        }
        let result = try await withTestServer(configure: configure, body)
        #expect(!(try AuditLines(keys + ".audit").events("auth").isEmpty), "every test authenticates")
        return result
    }

    /// The error a failed `body` threw.
    private func failure(_ body: () async throws -> Void) async -> PorterError? {
        do {
            try await body()
            return nil
        } catch {
            return error as? PorterError
        }
    }

    private func porter(_ command: String, _ server: TestServer, _ arguments: [String]) -> [String] {
        [
            TestProcess.porter, command, "\(server.endpoint)", "--fingerprint", "\(testIdentity.fingerprint)",
            "--connect-timeout", "\(Int(30 * testSlowdown))",
        ] + arguments
    }

    @Test func keygenWritesAPairThatOpenSSHReads() async throws {
        let path = try directory() + "/id"
        let made = try await TestProcess.run([TestProcess.porter, "keygen", "--file", path, "--comment", "ann@test"])
        #expect(made.status == 0, "\(made.errors)")
        let publicLine = try String(contentsOfFile: path + ".pub", encoding: .utf8)
        #expect(publicLine.hasPrefix("ssh-ed25519 AAAA") && publicLine.hasSuffix(" ann@test\n"))
        #expect(made.output.contains(publicLine.trimmingCharacters(in: .newlines)))
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(stat(path + ".pub", &info) == 0 && info.st_mode & 0o777 == 0o644)
        guard toolAvailable("ssh-keygen") else { return }
        let derived = try await TestProcess.run(["ssh-keygen", "-y", "-f", path])
        #expect(derived.status == 0, "\(derived.errors)")
        #expect(derived.output.split(separator: " ").prefix(2) == publicLine.split(separator: " ").prefix(2))
        let fingerprint = try await TestProcess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", path + ".pub"])
        let key = try SSHPrivateKey(openSSH: String(contentsOfFile: path, encoding: .utf8))
        #expect(
            fingerprint.output.split(separator: " ").dropFirst().first.map(String.init) == key.publicKey.fingerprint)
        // Never over an existing key.
        let again = try await TestProcess.run([TestProcess.porter, "keygen", "--file", path])
        #expect(again.status == 1)
        #expect(again.errors.contains("already exists"))
    }

    @Test func keysRunCommandsWhereTheTokenIsOff() async throws {
        let dir = try directory()
        let ann = SSHPrivateKey.generateEd25519(comment: "ann")
        var lines = [ann.publicKey.openSSHLine(comment: "ann")]
        var keyFiles = [(dir + "/ann", ann.openSSHText())]
        if toolAvailable("ssh-keygen") {
            for type in ["ed25519", "ecdsa"] {
                let path = dir + "/openssh-\(type)"
                let made = try await TestProcess.run(
                    ["ssh-keygen", "-q", "-t", type, "-N", "", "-C", type, "-f", path]
                        + (type == "ecdsa" ? ["-b", "256"] : []))
                #expect(made.status == 0, "\(made.errors)")
                lines.append(try String(contentsOfFile: path + ".pub", encoding: .utf8))
                keyFiles.append((path, try String(contentsOfFile: path, encoding: .utf8)))
            }
        }
        try write(keyFiles[0].1, to: keyFiles[0].0)
        let paths = keyFiles.map(\.0)
        try write(lines.joined(separator: "\n"), to: dir + "/authorized_keys", mode: 0o644)
        try await withKeyServer(keys: dir + "/authorized_keys") { server in
            for path in paths {
                let run = try await TestProcess.run(porter("exec", server, ["--key", path, "--", "echo", "hello"]))
                #expect(run.status == 0, "\(path): \(run.errors)")
                #expect(run.output == "hello\n")
                // The client says which key the server accepted.
                let key = try SSHPrivateKey(openSSH: String(contentsOfFile: path, encoding: .utf8)).publicKey
                let hello = try await TestProcess.run(porter("hello", server, ["--key", path, "--count", "1"]))
                #expect(hello.output.contains("authenticated with key \(key.fingerprint) in"), "\(hello.output)")
                let json = try await TestProcess.run(
                    porter("hello", server, ["--key", path, "--count", "1", "--json"]))
                #expect(json.output.contains(#""auth":"key""#) && json.output.contains(#""key":"\#(key.fingerprint)""#))
            }
            // The token is refused, and the client says why.
            let tokenFile = dir + "/token"
            try write(testToken, to: tokenFile)
            let token = try await TestProcess.run(porter("exec", server, ["--token-file", tokenFile, "--", "true"]))
            #expect(token.status == 255)
            #expect(token.errors.contains("accepts keys only"))
        }
        // Each key's connections and commands are in the audit log under its fingerprint, and so is the token.
        let audit = try AuditLines(dir + "/authorized_keys.audit")
        for path in paths {
            let key = try SSHPrivateKey(openSSH: String(contentsOfFile: path, encoding: .utf8)).publicKey
            let attempts = audit.attempts(by: key.fingerprint)
            #expect(attempts.count == 3 && attempts.allSatisfy { $0.outcome == "accepted" }, "\(path)")
            #expect(attempts.first?["keyType"] as? String == key.algorithm.rawValue)
            let commands = audit.events("exec").filter { $0["key"] as? String == key.fingerprint }
            #expect(commands.map { $0["argv"] as? [String] } == [["echo", "hello"]])
        }
        // The client saw in `welcome` that no token is accepted, and sent none.
        #expect(audit.events("auth").allSatisfy { $0["auth"] as? String == "publickey" })
    }

    @Test func aNamedServersKeyLineIsUsed() async throws {
        let dir = try directory()
        let key = SSHPrivateKey.generateEd25519()
        try write(key.openSSHText(), to: dir + "/named-key")
        try write(key.publicKey.openSSHLine(), to: dir + "/authorized_keys")
        try await withKeyServer(keys: dir + "/authorized_keys") { server in
            try write(
                """
                host box
                    endpoint \(server.endpoint)
                    fingerprint \(testIdentity.fingerprint)
                    key named-key
                """, to: dir + "/config")
            let run = try await TestProcess.run(
                [TestProcess.porter, "exec", "box", "--config", dir + "/config", "--", "echo", "named"])
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output == "named\n")
        }
    }

    @Test func aKeyNotListedIsRefusedAndNothingRuns() async throws {
        let dir = try directory()
        let (ann, stranger) = (SSHPrivateKey.generateEd25519(), SSHPrivateKey.generateEd25519())
        try write(ann.publicKey.openSSHLine(), to: dir + "/authorized_keys")
        try write(stranger.openSSHText(), to: dir + "/stranger")
        try await withKeyServer(keys: dir + "/authorized_keys", root: dir) { server in
            let run = try await TestProcess.run(
                porter("exec", server, ["--key", dir + "/stranger", "--", "touch", dir + "/ran"]))
            #expect(run.status == 255)
            #expect(run.errors.contains("key \(stranger.publicKey.fingerprint) is not authorized on this server"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/ran"))
        }
        let audit = try AuditLines(dir + "/authorized_keys.audit")
        #expect(audit.attempts(by: stranger.publicKey.fingerprint).map(\.outcome) == ["refused"])
        #expect(audit.events("exec").isEmpty)
    }

    @Test func porterAllowRefusesWhatItDoesNotListAndAllowsWhatItDoes() async throws {
        let dir = try directory()
        let key = SSHPrivateKey.generateEd25519()
        try write("shared file\n", to: dir + "/notes.txt", mode: 0o644)
        try write("porter-allow=\"ls,get\" " + key.publicKey.openSSHLine(), to: dir + "/authorized_keys")
        try await withKeyServer(keys: dir + "/authorized_keys", root: dir) { server in
            try await server.withClient(key: key) { connection in
                let listing = try await connection.list(".")
                #expect(listing.entries.contains { $0.path == "notes.txt" })
                try await connection.download("notes.txt", to: dir + "/copy.txt")
                #expect(try String(contentsOfFile: dir + "/copy.txt", encoding: .utf8) == "shared file\n")
                for refused in [
                    await failure { _ = try await connection.run(["true"]) },
                    await failure { try await connection.upload(dir + "/copy.txt", to: "uploaded.txt") },
                    await failure { _ = try await connection.echo() },
                ] {
                    #expect(refused?.kind == .refused)
                    #expect(refused?.code == .notPermitted)
                    #expect(refused?.message.contains("is not permitted") == true)
                }
                // The refusals did not end the connection.
                #expect(try await connection.list(".").entries.isEmpty == false)
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/uploaded.txt"))
        }
    }

    @Test func porterRootConfinesFilesAndCommands() async throws {
        let dir = try directory()
        try FileManager.default.createDirectory(atPath: dir + "/team/docs", withIntermediateDirectories: true)
        try write("inside\n", to: dir + "/team/docs/a.txt", mode: 0o644)
        try write("outside\n", to: dir + "/secret.txt", mode: 0o644)
        let key = SSHPrivateKey.generateEd25519()
        try write("porter-root=\"team\" " + key.publicKey.openSSHLine(), to: dir + "/authorized_keys")
        try await withKeyServer(keys: dir + "/authorized_keys", root: dir) { server in
            try await server.withClient(key: key) { connection in
                let listing = try await connection.list(".")
                #expect(listing.entries.map(\.path) == ["docs"])
                let outside = await failure { try await connection.download("../secret.txt", to: dir + "/got") }
                #expect(outside?.kind == .refused)
                #expect(!FileManager.default.fileExists(atPath: dir + "/got"))
                try await connection.download("docs/a.txt", to: dir + "/got")
                let pwd = try await connection.run(["pwd"])
                let real = try #require(realpath(dir + "/team", nil).map { String(cString: $0) })
                #expect(String(buffer: pwd.standardOutput) == real + "\n")
                var options = ExecOptions()
                options.directory = ".."
                let up = await failure { _ = try await connection.run(["pwd"], options: options) }
                #expect(up?.kind == .refused)
                // The key's root is the operator's: its mode is not the key's to change.
                let chmod = await failure { try await connection.request(.fileAttrs(.init(path: ".", mode: 0o777))) }
                #expect(chmod?.code == .notPermitted)
            }
        }
        let audit = try AuditLines(dir + "/authorized_keys.audit")
        #expect(
            audit.events("file.get").map { "\($0["path"] ?? "") \($0.outcome ?? "")" } == [
                "../secret.txt refused", "docs/a.txt completed",
            ])
        #expect(
            audit.events("exec").map { "\($0["cwd"] ?? "-") \($0.outcome ?? "")" } == ["- completed", ".. refused"])
        #expect(audit.events("file.attrs").first?.errorCode == "not-permitted")
    }

    @Test func aForcedCommandReplacesTheArgv() async throws {
        let dir = try directory()
        let key = SSHPrivateKey.generateEd25519()
        try write(
            "command=\"echo forced: $PORTER_ORIGINAL_COMMAND\" " + key.publicKey.openSSHLine(),
            to: dir + "/authorized_keys")
        try await withKeyServer(keys: dir + "/authorized_keys", root: dir) { server in
            try await server.withClient(key: key) { connection in
                let result = try await connection.run(["rm", "-rf", dir])
                #expect(String(buffer: result.standardOutput) == "forced: rm -rf \(dir)\n")
                #expect(result.exit.status == 0)
                // A forced command replaces file transfer too, as in OpenSSH.
                let listing = await failure { _ = try await connection.list(".") }
                #expect(listing?.code == .notPermitted)
                // The client chooses neither where it runs nor what it is told the client asked for.
                var elsewhere = ExecOptions()
                elsewhere.directory = "."
                let moved = await failure { _ = try await connection.run(["x"], options: elsewhere) }
                #expect(moved?.message.contains("a working directory is refused") == true)
                var forged = ExecOptions()
                forged.environment = ["PORTER_ORIGINAL_COMMAND": "innocent"]
                let forgery = await failure { _ = try await connection.run(["x"], options: forged) }
                #expect(forgery?.kind == .refused)
            }
            #expect(FileManager.default.fileExists(atPath: dir))
        }
    }

    @Test func fromRefusesAnotherAddress() async throws {
        let dir = try directory()
        let key = SSHPrivateKey.generateEd25519()
        try write("from=\"127.0.0.2\" " + key.publicKey.openSSHLine(), to: dir + "/authorized_keys")
        try await withKeyServer(keys: dir + "/authorized_keys") { server in
            let refused = await failure { try await server.withClient(key: key) { _ in } }
            #expect(refused?.kind == .authentication)
            #expect(refused?.message.contains("is not authorized from 127.0.0.1") == true)
            try write("from=\"127.0.0.0/8,!127.0.0.2\" " + key.publicKey.openSSHLine(), to: dir + "/authorized_keys")
            try await server.withClient(key: key) { connection in
                let result = try await connection.run(["echo", "ok"])
                #expect(String(buffer: result.standardOutput) == "ok\n")
            }
        }
    }

    @Test func anAuthorizedKeysFileOthersCanChangeIsRefused() throws {
        let dir = try directory()
        let key = SSHPrivateKey.generateEd25519()
        try write(key.publicKey.openSSHLine(), to: dir + "/authorized_keys", mode: 0o666)
        var configuration = ServerConfiguration(token: testToken, transport: .tls(testIdentity))
        configuration.authorizedKeys = dir + "/authorized_keys"
        do {
            _ = try PorterServer(configuration: configuration, logger: Logger(label: "test"))
            Issue.record("a server started with an authorized keys file anyone can write")
        } catch {
            #expect(error.message.contains("can be changed by other users (mode 666)"))
        }
    }

    @Test func noPTYRefusesAShellButNotACommand() async throws {
        let dir = try directory()
        let key = SSHPrivateKey.generateEd25519()
        try write("no-pty " + key.publicKey.openSSHLine(), to: dir + "/authorized_keys")
        try await withKeyServer(keys: dir + "/authorized_keys") { server in
            try await server.withClient(key: key) { connection in
                var options = ExecOptions()
                options.terminal = .init(term: "xterm", rows: 24, cols: 80)
                let shell = await failure { _ = try await connection.exec([], options: options) }
                #expect(shell?.code == .notPermitted)
                #expect(shell?.message.contains("a pseudo-terminal (no-pty)") == true)
                let result = try await connection.run(["true"])
                #expect(result.exit.status == 0)
            }
        }
        let commands = try AuditLines(dir + "/authorized_keys.audit").events("exec")
        #expect(
            commands.map { "\($0["pty"] ?? "") \($0.outcome ?? "") \($0.errorCode ?? "-")" } == [
                "1 refused not-permitted", "0 completed -",
            ])
    }

    @Test func aChangedFileTakesEffectWithoutARestartAndABadLineHarmsNoOther() async throws {
        let dir = try directory()
        let (ann, bob, carol) = (
            SSHPrivateKey.generateEd25519(), SSHPrivateKey.generateEd25519(), SSHPrivateKey.generateEd25519()
        )
        let file = dir + "/authorized_keys"
        try write(
            [
                "bogus-option " + carol.publicKey.openSSHLine(), "garbage", ann.publicKey.openSSHLine(),
                bob.publicKey.openSSHLine(), carol.publicKey.openSSHLine(),
            ].joined(separator: "\n"), to: file)
        try await withKeyServer(keys: file) { server in
            // A line with a mistake is ignored, and so is every later line for its key: a typo in a restriction
            // must not let a broader line below take effect.
            let carolRefused = await failure { try await server.withClient(key: carol) { _ in } }
            #expect(carolRefused?.message.contains("is not authorized on this server") == true)
            for key in [ann, bob] {
                try await server.withClient(key: key) { connection in
                    let result = try await connection.run(["true"])
                    #expect(result.exit.status == 0)
                }
            }
            try await server.withClient(key: ann) { connection in
                // Ann's key goes while she is connected: her connection keeps working, a new one is refused.
                try write(bob.publicKey.openSSHLine(), to: file)
                let refused = await failure { try await server.withClient(key: ann) { _ in } }
                #expect(refused?.message.contains("is not authorized on this server") == true)
                #expect(try await connection.run(["true"]).exit.status == 0)
            }
            try await server.withClient(key: bob) { _ in }
        }
        let audit = try AuditLines(file + ".audit")
        #expect(audit.attempts(by: carol.publicKey.fingerprint).map(\.outcome) == ["refused"])
        #expect(audit.attempts(by: ann.publicKey.fingerprint).map(\.outcome) == ["accepted", "accepted", "refused"])
        #expect(audit.attempts(by: bob.publicKey.fingerprint).map(\.outcome) == ["accepted", "accepted"])
    }

    @Test func aTokenOfOnesOwnGivesWayToTheKeyWhereTheServerAcceptsNoToken() async throws {
        let home = try directory()
        try FileManager.default.createDirectory(atPath: home + "/.porter", withIntermediateDirectories: true)
        let key = SSHPrivateKey.generateEd25519()
        try write(key.openSSHText(), to: home + "/.porter/id_ed25519")
        try write("a-token-for-another-server-0123456789abcdef", to: home + "/.porter/token")
        try write(key.publicKey.openSSHLine(), to: home + "/authorized_keys")
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home
        environment["PORTER_TOKEN"] = nil
        environment["SSH_AUTH_SOCK"] = nil
        let ownHome = environment
        try await withKeyServer(keys: home + "/authorized_keys") { server in
            let run = try await TestProcess.run(porter("exec", server, ["--", "echo", "keyed"]), environment: ownHome)
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output == "keyed\n")
        }
    }

    @Test func theAgentsKeysAreUsedWhenNoTokenIsFound() async throws {
        guard toolAvailable("ssh-agent"), toolAvailable("ssh-add"), toolAvailable("ssh-keygen") else { return }
        let dir = try directory()
        let made = try await TestProcess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir + "/agent-key"])
        #expect(made.status == 0, "\(made.errors)")
        try write(try String(contentsOfFile: dir + "/agent-key.pub", encoding: .utf8), to: dir + "/authorized_keys")
        let socket = dir + "/agent.sock"
        let agent = try TestProcess.start(["ssh-agent", "-D", "-a", socket], errors: dir + "/agent.err")
        defer {
            agent.signal(SIGTERM)
            _ = try? FileManager.default.removeItem(atPath: socket)
        }
        do {
            try await waitUntil { access(socket, F_OK) == 0 }
        } catch {
            throw TestFailure(
                "ssh-agent did not start: \((try? String(contentsOfFile: dir + "/agent.err", encoding: .utf8)) ?? "")")
        }
        // A home without a token or key of its own: only the agent can authenticate.
        let home = try directory()
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home
        environment["SSH_AUTH_SOCK"] = socket
        environment["PORTER_TOKEN"] = nil
        let agentEnvironment = environment
        let added = try await TestProcess.run(["ssh-add", dir + "/agent-key"], environment: environment)
        #expect(added.status == 0, "\(added.errors)")
        // The private key file goes: the agent alone holds it now.
        try FileManager.default.removeItem(atPath: dir + "/agent-key")
        try await withKeyServer(keys: dir + "/authorized_keys") { server in
            let run = try await TestProcess.run(
                porter("exec", server, ["--", "echo", "from the agent"]), environment: agentEnvironment)
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output == "from the agent\n")
        }
        let key = try SSHPublicKey(openSSH: String(contentsOfFile: dir + "/agent-key.pub", encoding: .utf8))
        let audit = try AuditLines(dir + "/authorized_keys.audit")
        #expect(audit.attempts(by: key.fingerprint).map(\.outcome) == ["accepted"])
        #expect(audit.events("exec").first?["argv"] as? [String] == ["echo", "from the agent"])
        agent.signal(SIGTERM)
        _ = try await agent.wait()
    }
}

extension TestServer {
    /// Connects with `key` and runs `body`.
    func withClient<Result: Sendable>(key: SSHPrivateKey, _ body: (ClientConnection) async throws -> Result)
        async throws -> Result
    {
        let configuration = ClientConfiguration(
            credentials: .key(key), transport: transport, connectTimeout: 30 * testSlowdown)
        return try await PorterClient.withConnection(to: endpoint, configuration: configuration, body)
    }
}
