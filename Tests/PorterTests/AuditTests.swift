import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// `serve --audit-log` and `serve --record`: a line for every authentication attempt and every operation, written
/// before the client hears the outcome, and terminal sessions as asciicast v2 files.
@Suite(.timeLimit(.minutes(3))) struct AuditTests {
    typealias Line = [String: Any]

    private static let tokenFile: String = {
        let path = NSTemporaryDirectory() + "porter-audit-token-\(UUID().uuidString)"
        _ = FileManager.default.createFile(
            atPath: path, contents: Data(testToken.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }()

    private func directory() throws -> String {
        let path = NSTemporaryDirectory() + "porter-audit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func lines(_ path: String) throws -> [Line] {
        try AuditLines(path).lines
    }

    /// The lines of `name`, the `started` lines of operations left out.
    private func events(_ name: String, in lines: [Line]) -> [Line] {
        lines.filter { $0["event"] as? String == name && $0.outcome != "started" }
    }

    private func porter(_ command: String, _ server: TestServer, _ arguments: [String], key: String? = nil)
        -> [String]
    {
        [
            TestProcess.porter, command, "\(server.endpoint)", "--fingerprint", "\(testIdentity.fingerprint)",
            "--connect-timeout", "\(Int(30 * testSlowdown))",
        ] + (key.map { ["--key", $0] } ?? ["--token-file", Self.tokenFile]) + arguments
    }

    private func withAuditedServer<Result: Sendable>(
        log: String, keys: String? = nil, root: String? = nil, recordings: String? = nil,
        forward: Bool = false, plaintext: Bool = false, _ body: @Sendable (TestServer) async throws -> Result
    ) async throws -> Result {
        try await withTestServer(
            plaintext: plaintext,
            configure: { configuration in
                configuration.auditLog = log
                configuration.authorizedKeys = keys
                configuration.recordings = recordings
                if let root { configuration.root = root }
                if forward { configuration.forward.targets = .any }
            }, body)
    }

    @Test func everyAuthenticationAttemptIsALine() async throws {
        let dir = try directory()
        let ann = SSHPrivateKey.generateEd25519(comment: "ann")
        let bob = SSHPrivateKey.generateEd25519(comment: "bob")
        try (ann.publicKey.openSSHLine(comment: "ann@laptop") + "\n").write(
            toFile: dir + "/keys", atomically: true, encoding: .utf8)
        chmod(dir + "/keys", 0o600)
        try await withAuditedServer(log: dir + "/audit", keys: dir + "/keys") { server in
            try await server.withClient { _ in }
            await #expect(throws: PorterError.self) { try await server.withClient(token: "not-the-token") { _ in } }
            await #expect(throws: PorterError.self) { try await server.withClient(key: bob) { _ in } }
            try await server.withClient(key: ann) { _ in }
        }
        let auth = events("auth", in: try lines(dir + "/audit"))
        #expect(auth.count == 4, "\(auth)")
        guard auth.count == 4 else { return }
        #expect(auth[0]["auth"] as? String == "token" && auth[0]["outcome"] as? String == "accepted")
        #expect(auth[3]["auth"] as? String == "publickey")
        #expect((auth[0]["peer"] as? String)?.hasPrefix("127.0.0.1:") == true)
        #expect(auth[1]["outcome"] as? String == "refused" && auth[1]["fatal"] as? Bool == true)
        #expect((auth[1]["error"] as? Line)?["code"] as? String == "auth-failed")
        #expect(auth[2]["key"] as? String == bob.publicKey.fingerprint && auth[2]["outcome"] as? String == "refused")
        #expect(auth[2]["fatal"] as? Bool == false, "a refused key leaves the client its next try")
        #expect(auth[3]["key"] as? String == ann.publicKey.fingerprint && auth[3]["comment"] as? String == "ann@laptop")
        #expect(auth[3]["outcome"] as? String == "accepted" && auth[3]["line"] as? Int == 1)
        #expect(auth[3]["keyType"] as? String == "ssh-ed25519")
        // Each connection has its own number.
        #expect(Set(auth.compactMap { $0["connection"] as? Int }).count == 4)
    }

    /// The client has its answer only after the line is written: each check reads the log as soon as the command
    /// has ended, with no wait.
    @Test func operationsAreLinesWrittenBeforeTheirResults() async throws {
        let dir = try directory()
        try FileManager.default.createDirectory(atPath: dir + "/root", withIntermediateDirectories: true)
        let log = dir + "/audit"
        try Data(repeating: 7, count: 100_000).write(to: URL(fileURLWithPath: dir + "/local"))
        try FileManager.default.createDirectory(atPath: dir + "/tree/sub", withIntermediateDirectories: true)
        try Data("leaf".utf8).write(to: URL(fileURLWithPath: dir + "/tree/sub/leaf"))
        try await withAuditedServer(log: log, root: dir + "/root") { server in
            let run = try await TestProcess.run(porter("exec", server, ["--", "sh", "-c", "printf out; exit 3"]))
            #expect(run.status == 3)
            let exec = try #require(events("exec", in: try lines(log)).last)
            #expect(exec["argv"] as? [String] == ["sh", "-c", "printf out; exit 3"])
            #expect(exec["exitStatus"] as? Int == 3 && exec["outcome"] as? String == "completed")
            #expect(exec["bytesOut"] as? Int == 3 && exec["pty"] as? Bool == false)
            #expect(exec["auth"] as? String == "token" && exec["duration"] is Double)
            #expect((exec["pid"] as? Int ?? 0) > 0)
            // Its `started` line came first, with what was asked.
            let all = try lines(log).filter { $0["event"] as? String == "exec" }
            #expect(all.map(\.outcome) == ["started", "completed"])
            #expect(all.first?["argv"] as? [String] == ["sh", "-c", "printf out; exit 3"])
            #expect(all.first?["channel"] as? Int == exec["channel"] as? Int)

            let missing = try await TestProcess.run(porter("exec", server, ["--", "no-such-command-here"]))
            #expect(missing.status == 127)
            #expect(events("exec", in: try lines(log)).last?["exitStatus"] as? Int == 127)

            let put = try await TestProcess.run(porter("put", server, ["--no-progress", dir + "/local", "copy"]))
            #expect(put.status == 0, "\(put.errors)")
            let received = try #require(events("file.put", in: try lines(log)).last)
            #expect(received["path"] as? String == "copy" && received["size"] as? Int == 100_000)
            #expect(received["bytesIn"] as? Int == 100_000 && received["outcome"] as? String == "completed")
            let digest = try #require(received["digest"] as? String)

            let get = try await TestProcess.run(porter("get", server, ["--no-progress", "copy", dir + "/back"]))
            #expect(get.status == 0, "\(get.errors)")
            let sent = try #require(events("file.get", in: try lines(log)).last)
            #expect(sent["digest"] as? String == digest && sent["bytesOut"] as? Int == 100_000)
            #expect(sent["size"] as? Int == 100_000 && sent["offset"] as? Int == 0)

            let absent = try await TestProcess.run(porter("get", server, ["--no-progress", "absent", dir + "/x"]))
            #expect(absent.status == 1)
            let refused = try #require(events("file.get", in: try lines(log)).last)
            #expect(refused["path"] as? String == "absent" && refused["outcome"] as? String == "refused")

            let list = try await TestProcess.run(porter("ls", server, ["."]))
            #expect(list.status == 0)
            #expect(events("file.list", in: try lines(log)).last?["path"] as? String == ".")

            let tree = try await TestProcess.run(porter("put", server, ["--no-progress", "-r", dir + "/tree", "tree"]))
            #expect(tree.status == 0, "\(tree.errors)")
            let made = events("file.mkdir", in: try lines(log)).compactMap { $0["path"] as? String }
            #expect(made.contains("tree/sub"), "\(made)")
        }
    }

    @Test func whatAKeyMayNotDoAndWhatItWasMadeToDoAreLines() async throws {
        let dir = try directory()
        let (ann, carl, dan) = (
            SSHPrivateKey.generateEd25519(comment: "ann"), SSHPrivateKey.generateEd25519(comment: "carl"),
            SSHPrivateKey.generateEd25519(comment: "dan")
        )
        let keys = [
            "restrict,porter-allow=\"get\" " + ann.publicKey.openSSHLine(comment: "ann"),
            "command=\"echo forced\" " + carl.publicKey.openSSHLine(comment: "carl"),
            "from=\"127.0.0.2\" " + dan.publicKey.openSSHLine(comment: "dan"),
        ]
        try keys.joined(separator: "\n").write(toFile: dir + "/keys", atomically: true, encoding: .utf8)
        chmod(dir + "/keys", 0o600)
        for (name, key) in [("ann", ann), ("carl", carl), ("dan", dan)] {
            try key.openSSHText().write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            chmod(dir + "/" + name, 0o600)
        }
        let log = dir + "/audit"
        try await withAuditedServer(log: log, keys: dir + "/keys") { server in
            let refused = try await TestProcess.run(porter("exec", server, ["--", "true"], key: dir + "/ann"))
            #expect(refused.status == 1, "\(refused.errors)")
            let exec = try #require(events("exec", in: try lines(log)).last)
            #expect(exec["outcome"] as? String == "refused" && exec["key"] as? String == ann.publicKey.fingerprint)
            #expect((exec["error"] as? Line)?["code"] as? String == "not-permitted")

            let forced = try await TestProcess.run(porter("exec", server, ["--", "ls", "/"], key: dir + "/carl"))
            #expect(forced.output == "forced\n")
            let ran = try #require(events("exec", in: try lines(log)).last)
            #expect(ran["argv"] as? [String] == ["ls", "/"] && ran["command"] as? String == "echo forced")
            #expect(ran["comment"] as? String == "carl" && ran["exitStatus"] as? Int == 0)

            let elsewhere = try await TestProcess.run(porter("exec", server, ["--", "true"], key: dir + "/dan"))
            #expect(elsewhere.status == 255)
            let auth = try #require(events("auth", in: try lines(log)).last)
            #expect(auth["key"] as? String == dan.publicKey.fingerprint && auth["outcome"] as? String == "refused")
            #expect(((auth["error"] as? Line)?["message"] as? String)?.contains("from 127.0.0.1") == true)
        }
    }

    @Test func aForwardIsALineWithItsTargetAndBytes() async throws {
        let dir = try directory()
        let log = dir + "/audit"
        let port = Locked(0)
        try await withTarget(.echoUntilEnd) { target in
            port.withLock { $0 = target }
            try await withAuditedServer(log: log, forward: true) { server in
                try await server.withClient { connection in
                    try await withForwarding(connection, [ForwardRule(bindPort: 0, host: "127.0.0.1", port: target)]) {
                        listeners, _ in
                        let received = try await exchange(with: listeners[0], sending: Array("seen".utf8))
                        #expect(received == Array("seen".utf8))
                        try await waitUntil { (try? events("forward", in: lines(log)).count) == 1 }
                    }
                }
            }
        }
        let forward = try #require(events("forward", in: try lines(log)).first)
        #expect(forward["target"] as? String == "127.0.0.1:\(port.withLock { $0 })")
        #expect(forward["bytesIn"] as? Int == 4 && forward["bytesOut"] as? Int == 4)
        #expect(forward["outcome"] as? String == "completed")
        #expect((forward["origin"] as? String)?.hasPrefix("127.0.0.1:") == true)
    }

    /// As log rotation does it: the file is moved away, SIGHUP, and the next lines go to a new file of that name.
    @Test func sighupReopensTheAuditLog() async throws {
        let dir = try directory()
        let log = dir + "/audit"
        // A file made before, that others can read: used, with a warning.
        _ = FileManager.default.createFile(atPath: log, contents: nil, attributes: [.posixPermissions: 0o644])
        let server = try TestProcess.start(
            [
                TestProcess.porter, "serve", "--listen", "127.0.0.1:0", "--plaintext", "--token-file", Self.tokenFile,
                "--audit-log", log,
            ], output: dir + "/serve.out", errors: dir + "/serve.err")
        defer { server.signal(SIGKILL) }
        let endpoint = { @Sendable () -> String? in
            let text = (try? String(contentsOfFile: dir + "/serve.out", encoding: .utf8)) ?? ""
            guard let range = text.range(of: "listening on ") else { return nil }
            return text[range.upperBound...].split(separator: " ").first.map(String.init)
        }
        try await waitUntil(seconds: 20) { endpoint() != nil }
        let hello = [
            TestProcess.porter, "hello", endpoint() ?? "", "--plaintext", "--token-file", Self.tokenFile, "--count",
            "1",
        ]
        #expect(try await TestProcess.run(hello).status == 0)
        #expect(try String(contentsOfFile: dir + "/serve.err", encoding: .utf8).contains("(mode 644): chmod 600 it"))
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        server.signal(SIGHUP)
        try await waitUntil(seconds: 30) {
            ((try? String(contentsOfFile: dir + "/serve.err", encoding: .utf8)) ?? "").contains(
                "reopened the audit log")
        }
        #expect(try await TestProcess.run(hello).status == 0)
        #expect(events("auth", in: try lines(log + ".1")).count == 1)
        #expect(events("auth", in: try lines(log)).count == 1)
        server.signal(SIGTERM)
        #expect(try await server.wait() == 0)
        var info = stat()
        #expect(stat(log, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    @Test func aCutUTF8SequenceWaitsForItsRest() {
        let euro = Array("€".utf8)
        #expect(SessionRecording.completeLength(Array("ab".utf8) + euro.prefix(2)) == 2)
        #expect(SessionRecording.completeLength(Array("ab".utf8) + euro) == 5)
        #expect(SessionRecording.completeLength([0xF0, 0x9F, 0x98]) == 0)
        #expect(SessionRecording.completeLength([0x41, 0xFF]) == 2, "an invalid byte is not held back")
        #expect(
            RecordingName.key(fingerprint: "SHA256:ab/+cdefghijklmnopq", comment: "ann b/c").fileNamePart
                == "ann-b-c_key-ab--cdefghijklmn")
    }

    /// As a person would use it: a shell under tmux, typed into, resized and left; its recording plays back what the
    /// screen showed, and the audit line names it.
    @Test(.enabled(if: toolAvailable("tmux"), "needs tmux"))
    func aTerminalSessionIsRecordedAsAsciicast() async throws {
        let dir = try directory()
        let (log, recordings) = (dir + "/audit", dir + "/recordings")
        try await withAuditedServer(log: log, recordings: recordings) { server in
            let terminal = try await TmuxSession.start(
                porter("shell", server, []).joined(separator: " ") + "; sleep 120")
            defer { terminal.kill() }
            #expect(try await terminal.waitForShell(), "the remote shell never answered")
            try await terminal.keys("echo typed-$((6 * 7))", "Enter")
            try await terminal.waitFor("typed-42")
            try await terminal.resize(cols: 90, rows: 20)
            try await terminal.keys("stty size", "Enter")
            try await terminal.waitFor("20 90")
            try await terminal.keys("exit", "Enter")
            try await waitUntil { (try? events("exec", in: lines(log)).count) == 1 }
        }
        let exec = try #require(events("exec", in: try lines(log)).first)
        #expect(exec["pty"] as? Bool == true)
        let path = try #require(exec["recording"] as? String)
        #expect(path.hasPrefix(recordings + "/") && path.contains("_token_c1.") && path.hasSuffix(".cast"), "\(path)")
        let cast = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let header = try #require(try JSONSerialization.jsonObject(with: Data(cast[0].utf8)) as? Line)
        #expect(header["version"] as? Int == 2 && header["width"] as? Int == 100 && header["height"] as? Int == 30)
        var output = ""
        var resizes: [String] = []
        var last = 0.0
        for line in cast.dropFirst() {
            let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [Any])
            let (time, code, data) = (event[0] as? Double ?? -1, event[1] as? String, event[2] as? String ?? "")
            #expect(time >= last, "times never go back")
            last = time
            if code == "o" { output += data } else if code == "r" { resizes.append(data) }
        }
        #expect(output.contains("echo typed-$((6 * 7))"), "what was typed, as the terminal echoed it")
        #expect(output.contains("typed-42") && output.contains("20 90"))
        #expect(resizes.contains("90x20"), "\(resizes)")
    }

    /// The receiver verifies the first `file.end` and ignores the rest: so does the log, whatever a client sends
    /// after it.
    @Test func aSecondFileEndCannotChangeTheDigestInTheLog() async throws {
        let dir = try directory()
        let log = dir + "/audit"
        let configure = { (configuration: inout ServerConfiguration) in
            configuration.auditLog = log
            configuration.root = dir
        }
        try await withTestServer(plaintext: true, configure: configure) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                let content = ByteBuffer(string: "once\n")
                let digest = FileDigest.hex(of: content, .xxh128)
                let put = ControlMessage.FilePut(path: "once.txt", size: Int64(content.readableBytes))
                try await connection.send(
                    ChannelMessage.open(.init(window: 0, parameters: .filePut(put))).frame(channel: 1))
                #expect(try await connection.next().kind == .control, "the accept")
                try await connection.send(
                    ChannelMessage.fileBegin(.init(offset: 0)).frame(channel: 1), .data(content, channel: 1),
                    .eof(channel: 1), ChannelMessage.fileEnd(.init(digest: digest)).frame(channel: 1),
                    ChannelMessage.fileEnd(.init(digest: String(repeating: "0", count: 32))).frame(channel: 1))
                while try await connection.next().kind != .close {}
                try await connection.send(.close(channel: 1))
            }
        }
        let put = try #require(events("file.put", in: try lines(log)).last)
        #expect(put["digest"] as? String == FileDigest.hex(of: ByteBuffer(string: "once\n"), .xxh128))
        #expect(put.outcome == "completed")
    }

    @Test func aClientCannotShapeALineBeyondItsFields() throws {
        let dir = try directory()
        let log = try AuditLog(path: dir + "/audit", logger: .init(label: "test"))
        let trail = try #require(AuditTrail(log: log, recordings: nil))
        let connection = trail.connection(peer: nil).authenticated(as: .token)
        // An unknown request's name is a member of a `global` line, never the line's event.
        connection.record(.unknown(name: "auth"), error: ProtocolError(.unknownRequest, "no"), since: .now())
        // A long argv is cut, and control characters are escaped, the C1 ones and bidi overrides included.
        let open = ChannelMessage.Open(
            window: 0,
            parameters: .exec(.init(argv: ["x\u{85}\u{202E}y"] + Array(repeating: "abcdefgh", count: 1000))))
        OperationAudit(connection: connection, channel: 1, open: open, forcedCommand: nil).refused(
            ProtocolError(.notPermitted, "no"))
        let text = try String(contentsOfFile: dir + "/audit", encoding: .utf8)
        #expect(text.contains(#""x\u0085\u202ey""#), "\(text.prefix(200))")
        let parsed = try AuditLines(dir + "/audit")
        #expect(parsed.lines.map { $0["event"] as? String } == ["global", "exec", "exec"])
        #expect(parsed.lines.first?["request"] as? String == "auth")
        let argv = try #require(parsed.events("exec").first?["argv"] as? [String])
        #expect(argv.count < 600 && argv.last == "…")
        #expect(AuditText.cut(String(repeating: "é", count: 5000)).unicodeScalars.count == AuditText.maxCharacters + 1)
        // A comment of combining marks still makes a short file name.
        let name = RecordingName.key(
            fingerprint: "SHA256:abc", comment: "a" + String(repeating: "\u{301}", count: 300))
        #expect(name.fileNamePart.utf8.count <= 40, "\(name.fileNamePart)")
    }

    @Test func anAbandonedUploadIsNeverRenamedAndOneBeingRenamedIsInPlace() {
        let abandoned = UploadCommit()
        #expect(abandoned.abandon())
        #expect(!abandoned.begin() && !abandoned.isInPlace)
        let renaming = UploadCommit()
        #expect(renaming.begin())
        #expect(!renaming.abandon(), "too late: the rename has begun")
        #expect(renaming.isInPlace)
        renaming.end(renamed: true)
        #expect(renaming.isInPlace && !renaming.begin(), "one rename only")
        let failed = UploadCommit()
        #expect(failed.begin())
        failed.end(renamed: false)
        #expect(!failed.isInPlace)
    }

    /// A client that sends its upload's end and closes at once, without waiting for `done`: whichever comes first
    /// on the server, the log says what happened to the file, and the path can be uploaded again.
    @Test func anUploadClosedBeforeItsDoneIsInPlaceOnlyIfItsLineSaysSo() async throws {
        let dir = try directory()
        let log = dir + "/audit"
        let configure = { (configuration: inout ServerConfiguration) in
            configuration.auditLog = log
            configuration.root = dir + "/root"
        }
        try FileManager.default.createDirectory(atPath: dir + "/root", withIntermediateDirectories: true)
        let content = ByteBuffer(repeating: 0x62, count: 200_000)
        let digest = FileDigest.hex(of: content, .xxh128)
        try await withTestServer(plaintext: true, configure: configure) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                let put = ControlMessage.FilePut(path: "once.txt", size: Int64(content.readableBytes), mode: 0o444)
                try await connection.send(
                    ChannelMessage.open(.init(window: 0, parameters: .filePut(put))).frame(channel: 1))
                #expect(try await connection.next().kind == .control, "the accept")
                var frames: [Frame] = [ChannelMessage.fileBegin(.init(offset: 0)).frame(channel: 1)]
                var rest = content
                while let chunk = rest.readSlice(length: min(rest.readableBytes, 65_536)) {
                    frames.append(.data(chunk, channel: 1))
                    if rest.readableBytes == 0 { break }
                }
                frames += [
                    .eof(channel: 1), ChannelMessage.fileEnd(.init(digest: digest)).frame(channel: 1),
                    .close(channel: 1),
                ]
                try await connection.send(contentsOf: frames)
                while try await connection.next().kind != .close {}
            }
            try await waitUntil { (try? AuditLines(log).events("file.put").count) == 1 }
            let line = try #require(try AuditLines(log).events("file.put").first)
            let inPlace = FileManager.default.fileExists(atPath: dir + "/root/once.txt")
            #expect(line.outcome == (inPlace ? "completed" : "closed"), "\(line), in place: \(inPlace)")
            if !inPlace {
                // The partial file keeps its own mode, not the client's 0444: a later upload can write it.
                let part = dir + "/root/" + IncomingFile.partName(for: "once.txt")
                let mode = try FileManager.default.attributesOfItem(atPath: part)[.posixPermissions] as? Int
                #expect((mode ?? 0) & 0o200 != 0, "mode \(String(mode ?? 0, radix: 8))")
            }
            try Data("again".utf8).write(to: URL(fileURLWithPath: dir + "/again"))
            try await server.withClient { connection in
                try await connection.upload(dir + "/again", to: "again.txt")
                try await connection.upload(dir + "/again", to: "once.txt")
            }
            #expect(try String(contentsOfFile: dir + "/root/once.txt", encoding: .utf8) == "again")
        }
    }

    /// A command given up by its client, and one whose connection broke a rule: neither has a result, and each
    /// still has its last line.
    @Test func anOperationWithoutAResultStillHasItsLastLine() async throws {
        let dir = try directory()
        let log = dir + "/audit"
        try await withAuditedServer(log: log, plaintext: true) { server in
            try await server.withClient { connection in
                let session = try await connection.exec(["sleep", "60"])
                try await waitUntil { (try? AuditLines(log).started("exec").count) == 1 }
                session.close()
                try await waitUntil { (try? AuditLines(log).events("exec").count) == 1 }
            }
            try await FrameConnection.run(server.endpoint) { connection in
                _ = try await connection.openEcho(1, window: 1024)
                // Data on a channel that is not open breaks the protocol: the connection ends on it.
                try await connection.send(.data(ByteBuffer(string: "x"), channel: 7))
                while try await connection.nextOrEnd() != nil {}
            }
            try await waitUntil { (try? AuditLines(log).events("echo").count) == 1 }
        }
        let audit = try AuditLines(log)
        let exec = try #require(audit.events("exec").first)
        #expect(exec.outcome == "closed" && exec["exitStatus"] == nil, "\(exec)")
        let echo = try #require(audit.events("echo").first)
        #expect(echo.outcome == "failed" && echo.errorCode == "bad-channel", "\(echo)")
    }
}
