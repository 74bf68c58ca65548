import Foundation
import NIOCore
import Porter
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Porter run by an ordinary user, as docs/porter.service runs the server and as people run clients. The suite
/// runs as root here, so these start `porter` as `nobody` with setpriv: a socket option that only root may set
/// (SO_DEBUG, which TCP_NODELAY became when it was set at the socket level) once failed every connection of a
/// server or client that was not root.
@Suite(.timeLimit(.minutes(3)), .enabled(if: geteuid() == 0 && toolAvailable("setpriv")))
struct UnprivilegedUserTests {
    private static let nobody: uid_t = 65534
    private static let asNobody = ["setpriv", "--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups"]

    /// A directory that `nobody` owns, removed afterwards, holding a copy of `porter`: the build directory may be
    /// under one that `nobody` cannot enter (a checkout in a 0700 temporary directory).
    private func withNobodysDirectory<Result>(_ body: (String) async throws -> Result) async throws -> Result {
        try await withTemporaryDirectory { directory in
            #expect(chown(directory, Self.nobody, Self.nobody) == 0)
            try Self.copyExecutable(TestProcess.porter, to: directory + "/porter")
            return try await body(directory)
        }
    }

    /// Copies the program at `source` to `destination` (mode 0755) through descriptors that are closed on `exec`.
    ///
    /// Other tests start processes meanwhile: a descriptor open for writing that one of them inherited would keep
    /// the copy busy, and running it would fail with "Text file busy" (exit 126) for as long as that process runs.
    private static func copyExecutable(_ source: String, to destination: String) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        try #require(input >= 0, "cannot open \(source)")
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
        try #require(output >= 0, "cannot create \(destination)")
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = read(input, &buffer, buffer.count)
            try #require(count >= 0, "cannot read \(source)")
            if count == 0 { break }
            try #require(write(output, buffer, count) == count, "cannot write \(destination)")
        }
        #expect(fchmod(output, 0o755) == 0)
    }

    @Test func aClientThatIsNotRootConnects() async throws {
        try await withNobodysDirectory { home in
            try await withTestServer { server in
                let hello = try await TestProcess.run(
                    Self.asNobody + [
                        "env", "HOME=\(home)", "PORTER_TOKEN=\(testToken)", home + "/porter", "hello",
                        "\(server.endpoint)", "--fingerprint", "\(testIdentity.fingerprint)", "--connect-timeout",
                        "\(Int(30 * testSlowdown))", "-c", "1",
                    ])
                #expect(hello.status == 0, "\(hello.errors)")
                #expect(hello.output.hasPrefix("hello from test-host"))
            }
        }
    }

    @Test func aServerThatIsNotRootServesAndRunsCommandsAsItsUser() async throws {
        try await withNobodysDirectory { directory in
            let token = directory + "/token"
            #expect(FileManager.default.createFile(atPath: token, contents: Data(testToken.utf8)))
            #expect(chmod(token, 0o600) == 0 && chown(token, Self.nobody, Self.nobody) == 0)
            let output = directory + "/serve.out"
            let serve = try TestProcess.start(
                Self.asNobody + [
                    "env", "HOME=\(directory)", directory + "/porter", "serve", "--plaintext", "--listen",
                    "127.0.0.1:0",
                    "--token-file", token, "--identity", directory + "/identity.pem", "--root", directory,
                ], output: output, errors: directory + "/serve.err")
            // A server still running when the test fails would outlive it.
            defer { serve.signal(SIGKILL) }
            let port = Locked<Int?>(nil)
            try await waitUntil {
                let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
                guard let line = text.split(separator: "\n").first(where: { $0.contains("listening on 127.0.0.1:") }),
                    let address = line.split(separator: " ").first(where: { $0.hasPrefix("127.0.0.1:") })
                else { return false }
                port.withLock { $0 = Int(address.split(separator: ":")[1]) }
                return true
            }
            let endpoint = Endpoint.tcp(host: "127.0.0.1", port: try #require(port.withLock { $0 }))
            let configuration = ClientConfiguration(
                token: testToken, transport: .plaintext, connectTimeout: 30 * testSlowdown)
            let result = try await PorterClient.withConnection(to: endpoint, configuration: configuration) {
                try await $0.run(["id", "-u"])
            }
            #expect(String(buffer: result.standardOutput) == "\(Self.nobody)\n")
            serve.signal(SIGTERM)
            #expect(try await serve.wait() == 0)
        }
    }
}
