import Foundation
import NIOCore
import Porter
import Testing

/// Whether packet captures can run here: tcpdump installed. CI installs it and sets `PORTER_REQUIRE_CAPTURE=1`,
/// which turns a missing tcpdump into a failure instead of a skipped test.
private let captureAvailable =
    FileManager.default.isExecutableFile(atPath: "/usr/bin/tcpdump")
    || FileManager.default.isExecutableFile(atPath: "/usr/sbin/tcpdump")
    || ProcessInfo.processInfo.environment["PORTER_REQUIRE_CAPTURE"] == "1"

@Suite(.enabled(if: captureAvailable, "needs tcpdump"), .timeLimit(.minutes(1)))
struct WireCaptureTests {
    /// Echoes a marker through a server while tcpdump records the loopback traffic, and returns the capture.
    private func capture(plaintext: Bool, marker: String) async throws -> [UInt8] {
        try await withTestServer(plaintext: plaintext) { server in
            guard case .tcp(_, let port) = server.endpoint else { throw TestFailure("not TCP") }
            let file = NSTemporaryDirectory() + "porter-capture-\(UUID().uuidString).pcap"
            defer { try? FileManager.default.removeItem(atPath: file) }
            let tcpdump = try await TCPDump.start(port: port, file: file)
            do {
                try await server.withClient { connection in
                    // A command whose output is the marker, which the request holds only in two pieces…
                    let half = marker.index(marker.startIndex, offsetBy: marker.count / 2)
                    let result = try await connection.run([
                        "printf", "%s%s", String(marker[..<half]), String(marker[half...]),
                    ])
                    #expect(String(buffer: result.standardOutput) == marker)
                    // …and the echo service, which answers it upper-cased.
                    let echo = try await connection.echo()
                    let answer = try await echo.roundTrip(ByteBuffer(string: marker))
                    #expect(String(buffer: answer) == marker.uppercased())
                    try await echo.sender.finish()
                    #expect(try await echo.receive() == nil)
                }
                // Packets reach the capture in order: once a later sentinel is in the file, so is the session.
                let sentinel = "capture-sentinel-\(UUID().uuidString)"
                _ = try await rawExchange(with: server.endpoint, sending: Array(sentinel.utf8))
                try await waitUntil { contains(captured(file), sentinel) }
            } catch {
                try? await tcpdump.stop()
                throw error
            }
            try await tcpdump.stop()
            return captured(file)
        }
    }

    @Test func tlsTrafficCarriesNoPlaintext() async throws {
        let marker = "porter-marker-\(UUID().uuidString.lowercased())"
        let captured = try await capture(plaintext: false, marker: marker)
        #expect(captured.count > 1000, "the capture holds the connection")
        #expect(!contains(captured, marker), "the command's output crossed the wire in clear")
        #expect(!contains(captured, marker.uppercased()), "the echoed marker crossed the wire in clear")
        #expect(!contains(captured, testToken), "the token crossed the wire")
    }

    /// The control: the same capture of a plaintext server does show the marker, so the check above can fail.
    @Test func theCaptureSeesPlaintextWhenThereIsSome() async throws {
        let marker = "porter-marker-\(UUID().uuidString.lowercased())"
        let captured = try await capture(plaintext: true, marker: marker)
        #expect(contains(captured, marker))
        #expect(contains(captured, marker.uppercased()))
        #expect(!contains(captured, testToken), "the token is never sent, even in plaintext")
    }

    private func captured(_ file: String) -> [UInt8] {
        (try? Data(contentsOf: URL(fileURLWithPath: file))).map { Array($0) } ?? []
    }

    private func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let needle = Array(needle.utf8)
        guard haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in
            haystack[start..<(start + needle.count)].elementsEqual(needle)
        }
    }
}

/// A running tcpdump on the loopback interface, ready once it says it is listening.
///
/// Spawned directly rather than with Foundation's `Process`: a child inherits the signal mask of the thread that
/// starts it, and the threads async code runs on block nearly every signal, so tcpdump would never see the
/// SIGINT that makes it write out its capture and exit.
private struct TCPDump: Sendable {
    let pid: pid_t

    static func start(port: Int, file: String) async throws -> TCPDump {
        let log = file + ".log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let arguments = ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-s", "0", "-w", file, "tcp port \(port)"]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, "tcpdump", &actions, &attributes, &argv, environ)
        guard status == 0 else { throw TestFailure("cannot start tcpdump: \(String(cString: strerror(status)))") }
        let tcpdump = TCPDump(pid: pid)
        // tcpdump reports "listening on lo" on stderr once the capture is armed.
        do {
            try await waitUntil {
                (try? String(contentsOfFile: log, encoding: .utf8))?.contains("listening on") == true
            }
        } catch {
            try? await tcpdump.stop()
            throw TestFailure("tcpdump did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return tcpdump
    }

    /// Stops the capture: tcpdump writes out what it holds and exits.
    func stop() async throws {
        kill(pid, SIGINT)
        let pid = self.pid
        try await waitUntil {
            var status: Int32 = 0
            return waitpid(pid, &status, WNOHANG) == pid
        }
    }
}
