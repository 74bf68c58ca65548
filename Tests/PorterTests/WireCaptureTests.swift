import Foundation
import NIOCore
import Porter
import Testing

@Suite(.enabled(if: toolAvailable("tcpdump"), "needs tcpdump"), .timeLimit(.minutes(3)))
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
private struct TCPDump: Sendable {
    let process: TestProcess

    static func start(port: Int, file: String) async throws -> TCPDump {
        let log = file + ".log"
        let process = try TestProcess.start(
            ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-s", "0", "-w", file, "tcp port \(port)"],
            errors: log)
        let tcpdump = TCPDump(process: process)
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
        process.signal(SIGINT)
        _ = try await process.wait()
    }
}
