import Foundation
import NIOCore
import NIOPosix
import Porter
import Testing

@Suite struct EndpointTests {
    @Test(arguments: [
        ("example.org", Endpoint.tcp(host: "example.org", port: 7070)),
        ("127.0.0.1:9000", .tcp(host: "127.0.0.1", port: 9000)),
        ("[::1]:9000", .tcp(host: "::1", port: 9000)),
        ("[::1]", .tcp(host: "::1", port: 7070)),
        ("::1", .tcp(host: "::1", port: 7070)),
        ("unix:/run/porter.sock", .unix(path: "/run/porter.sock")),
        ("localhost:0", .tcp(host: "localhost", port: 0)),
    ])
    func parses(text: String, endpoint: Endpoint) throws {
        #expect(try Endpoint(parsing: text) == endpoint)
        #expect(try Endpoint(parsing: endpoint.description) == endpoint)
    }

    @Test(arguments: ["", "host:", "host:99999", "host:port", "[::1", "[::1]x", "unix:", ":80", "a b:1"])
    func refuses(text: String) {
        #expect(throws: PorterError.self) { try Endpoint(parsing: text) }
    }
}

@Suite struct TerminalTextTests {
    @Test(arguments: [
        ("plain text, é ✓", "plain text, é ✓"),
        ("\u{1B}[31mred\u{1B}[0m", "\\x1B[31mred\\x1B[0m"),
        ("line\nfake: spoof", "line\\nfake: spoof"),
        ("bell\u{7}\u{7F}\u{9B}", "bell\\x07\\x7F\\x9B"),
        ("a\u{202E}b", "a\\u{202E}b"),
        ("tab\there", "tab\there"),
    ])
    func escapes(input: String, output: String) {
        #expect(TerminalText.escaped(input) == output)
    }
}

@Suite struct ChatInputTests {
    @Test(arguments: [
        ("hello", ChatInput.say("hello")),
        ("", .nothing),
        ("/who", .who),
        ("/quit", .quit),
        ("/nick bob", .rename("bob")),
        ("/msg bob hi there", .privateMessage(to: "bob", text: "hi there")),
        ("//not a command", .say("/not a command")),
        ("/msg bob", .usage("usage: /msg NAME TEXT")),
    ])
    func parses(line: String, input: ChatInput) {
        #expect(ChatInput(line) == input)
    }
}

@Suite struct TokenFileTests {
    private func temporaryPath() -> String {
        NSTemporaryDirectory() + "porter-token-\(UUID().uuidString)/nested/token"
    }

    @Test func createsAPrivateRandomTokenOnceAndReadsItBack() throws {
        let path = temporaryPath()
        let (token, created) = try TokenFile.loadOrCreate(at: path)
        #expect(created)
        #expect(token.count == 64)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let again = try TokenFile.loadOrCreate(at: path)
        #expect(again.token == token && !again.created)
        #expect(try TokenFile.load(at: path) == token)
        let (other, _) = try TokenFile.loadOrCreate(at: temporaryPath())
        #expect(other != token)
    }

    @Test func refusesATokenFileOthersCanRead() throws {
        let path = temporaryPath()
        _ = try TokenFile.loadOrCreate(at: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(throws: PorterError.self) { try TokenFile.load(at: path) }
    }

    @Test func clientsPreferTheFlagThenTheEnvironment() throws {
        let path = temporaryPath()
        let (token, _) = try TokenFile.loadOrCreate(at: path)
        #expect(try TokenFile.resolveForClient(tokenFile: path, environment: ["PORTER_TOKEN": "env"]) == token)
        #expect(try TokenFile.resolveForClient(tokenFile: nil, environment: ["PORTER_TOKEN": " env\n"]) == "env")
    }
}

/// A library user's absurd time limits are cut to what the clocks hold, never a trap.
@Suite(.timeLimit(.minutes(3))) struct ClientTimeLimitTests {
    @Test(arguments: [Double.infinity, 1e300, 1e19, -Double.infinity, -1, Double.nan, 0])
    func absurdConnectTimeoutsDoNotCrash(seconds: Double) async throws {
        try await withTestServer { server in
            // Connected, or timed out at once: either way an answer, not a crash.
            do {
                let name = try await server.withClient(connectTimeout: seconds) { $0.welcome.server }
                #expect(name == "test-host")
            } catch {
                #expect(!(seconds > 0), "\(error)")
            }
        }
    }

    @Test(arguments: [Double.infinity, 1e300, Double.nan, -1, 0])
    func absurdCommandTimeLimitsAreRefusedBeforeSending(seconds: Double) async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                await #expect(throws: PorterError.self) {
                    _ = try await connection.exec(["true"], options: ExecOptions(timeout: seconds))
                }
                // The connection is still usable.
                _ = try await connection.ping()
            }
        }
    }

    @Test func clampsToAYear() {
        #expect(TimeLimit.clamped(.infinity) == TimeLimit.maxSeconds)
        #expect(TimeLimit.clamped(.nan) == 0)
        #expect(TimeLimit.clamped(-3) == 0)
        #expect(TimeLimit.clamped(2.5) == 2.5)
        #expect(TimeLimit.duration(seconds: 1e300) == .seconds(Int64(TimeLimit.maxSeconds)))
    }
}

/// Loopback is decided on the addresses a host resolves to, not on how its name looks.
@Suite struct LoopbackTests {
    @Test(arguments: ["127.0.0.1", "127.255.3.4", "::1", "localhost", "::ffff:127.0.0.1"])
    func loopbackHosts(host: String) {
        #expect(Endpoint.tcp(host: host, port: 7070).isLoopback)
    }

    @Test(arguments: ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "::ffff:10.0.0.1", "2001:db8::1"])
    func otherAddresses(host: String) {
        #expect(!Endpoint.tcp(host: host, port: 7070).isLoopback)
    }

    @Test func namesAreJudgedByWhatTheyResolveTo() {
        // No DNS in tests: a resolver of the test's own stands in for it.
        let names: [String: [[UInt8]]] = [
            "127.evil.example": [[93, 184, 216, 34]],
            "127.0.0.1.evil.example": [[127, 0, 0, 1], [10, 1, 2, 3]],
            "127.nowhere.example": [],
            "lo.example": [[127, 0, 0, 1], Array(repeating: 0, count: 15) + [1]],
        ]
        let resolve = { (host: String) in names[host] ?? [] }
        #expect(!Endpoint.tcp(host: "127.evil.example", port: 1).isLoopback(resolvingWith: resolve))
        #expect(!Endpoint.tcp(host: "127.0.0.1.evil.example", port: 1).isLoopback(resolvingWith: resolve))
        #expect(!Endpoint.tcp(host: "127.nowhere.example", port: 1).isLoopback(resolvingWith: resolve))
        #expect(Endpoint.tcp(host: "lo.example", port: 1).isLoopback(resolvingWith: resolve))
        #expect(!Endpoint.unix(path: "/tmp/s").isLoopback(resolvingWith: resolve))
    }
}

/// What a person reads about a failure names what went wrong in words, never a Swift type.
@Suite struct ErrorTextTests {
    private struct SomeInternalError: Error {}

    @Test func systemAndNIOErrorsAreWords() {
        let cases: [(any Error, String)] = [
            (SocketAddressError.failedToParseIPString("1.2.3"), "1.2.3 is not an IP address"),
            (SocketAddressError.unixDomainSocketPathTooLong, "the socket path is too long"),
            (IOError(errnoCode: EADDRINUSE, reason: "bind"), "Address already in use"),
            (ChannelError.ioOnClosedChannel, "the connection was closed"),
            (ChannelError.connectTimeout(.seconds(1)), "timed out"),
        ]
        for (error, text) in cases { #expect(ErrorText.describe(error) == text) }
        let unknown = ErrorText.describe(SomeInternalError())
        #expect(!unknown.contains("SomeInternalError") && !unknown.contains("()"))
    }

    @Test func aServerHoldingTheConnectionForAHandshakeSlotIsBusyNotAStranger() async throws {
        let oneSlot: (inout ServerConfiguration) -> Void = {
            $0.maxUnauthenticated = 1
            $0.maxUnauthenticatedPerSource = 1
        }
        // The silent connection keeps the slot far longer than the client waits.
        try await withTestServer(authTimeout: 600, configure: oneSlot) { server in
            guard case .tcp(_, let port) = server.endpoint else { throw TestFailure("not TCP") }
            // A connection that never says a word holds the only slot for the whole auth timeout.
            let silent = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            defer { silent.close(promise: nil) }
            try await waitUntil { server.server.unauthenticatedCount == 1 }
            let error = await #expect(throws: PorterError.self) {
                // Long enough to connect on a loaded machine, far shorter than the server's wait for a slot.
                try await server.withClient(connectTimeout: 10 * testSlowdown) { _ in }
            }
            #expect(error?.message.contains("busy") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("handshake slot") == true)
        }
    }
}

@Suite struct WeakTokenTests {
    @Test(arguments: ["", "secret", "short-but-mixed", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "12121212121212121212"])
    func weakTokens(token: String) {
        #expect(TokenFile.weakness(of: token) != nil)
    }

    @Test func createdAndHandMadeStrongTokensAreStrong() throws {
        let (created, _) = try TokenFile.loadOrCreate(at: NSTemporaryDirectory() + "porter-strong-\(UUID().uuidString)")
        #expect(TokenFile.weakness(of: created) == nil)
        #expect(TokenFile.weakness(of: "q8Xr0mZt3LwB9sYc5VnK2hJd7GfP1aUe4TiO6=") == nil)
        #expect(TokenFile.weakness(of: testToken) == nil)
    }
}
