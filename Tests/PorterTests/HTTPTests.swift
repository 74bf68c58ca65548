import Foundation
import NIOCore
import Porter
import Testing

/// The HTTP endpoint: status data, health, Prometheus metrics that follow what the server does, and limits.
@Suite(.timeLimit(.minutes(3))) struct HTTPTests {
    private func withHTTPServer(
        _ http: HTTPConfiguration = HTTPConfiguration(
            listen: .tcp(host: "127.0.0.1", port: 0), maxBodyBytes: 16, idleTimeout: 120),
        _ body: @Sendable (TestServer, Endpoint) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { root in
            let configure: (inout ServerConfiguration) -> Void = {
                $0.http = http
                $0.root = root
            }
            try FileManager.default.createDirectory(atPath: root + "/d", withIntermediateDirectories: true)
            try writeRandomFile(root + "/d/file", count: 5000)
            try await withTestServer(configure: configure) { server in
                try await body(server, .tcp(host: "127.0.0.1", port: try server.port(of: "http")))
            }
        }
    }

    /// Sends `request` and returns the status line, headers and body of the answer.
    private func exchange(_ endpoint: Endpoint, _ request: String) async throws -> (status: String, body: String) {
        let answer = String(
            decoding: try await rawExchange(with: endpoint, sending: Array(request.utf8)), as: UTF8.self)
        let parts = answer.components(separatedBy: "\r\n\r\n")
        return (parts[0].components(separatedBy: "\r\n")[0], parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    private func get(_ endpoint: Endpoint, _ path: String) async throws -> (status: String, body: String) {
        try await exchange(endpoint, "GET \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    }

    @Test func healthStatusAndMetricsFollowTheServer() async throws {
        try await withHTTPServer { server, http in
            #expect(try await get(http, "/healthz") == ("HTTP/1.1 200 OK", "ok\n"))
            let page = try await get(http, "/")
            #expect(page.status == "HTTP/1.1 200 OK")
            #expect(page.body.contains("<title>Porter status</title>"))
            try await server.withClient { connection in
                _ = try await connection.run(["true"])
                _ = try await connection.download(
                    "d/file", to: NSTemporaryDirectory() + "porter-http-\(UUID().uuidString)")
                let chat = try await connection.joinChat(room: "ops", name: "ann")
                let status = try await get(http, "/status.json")
                let json = try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any]
                #expect(json?["connections"] as? Int == 1)
                // A chat member is in the middle of a request: its connection is busy.
                #expect(json?["busy"] as? Int == 1)
                #expect((json?["rooms"] as? [[String: Any]])?.first?["members"] as? [String] == ["ann"])
                let metrics = try await get(http, "/metrics").body
                for line in [
                    "porter_commands_started_total 1", "porter_connections_accepted_total 1",
                    "porter_files_sent_total 1", "porter_file_bytes_sent_total 5000", "porter_chat_rooms 1.0",
                    "porter_chat_members 1.0", "porter_connections_open 1.0", "porter_connections_busy 1.0",
                ] {
                    #expect(metrics.contains("\n\(line)\n") || metrics.hasPrefix("\(line)\n"), "\(line) in \(metrics)")
                }
                #expect(metrics.contains("# TYPE porter_uptime_seconds gauge"))
                try await chat.sender.leave()
            }
        }
    }

    /// Every metric says what it counts: a `# HELP` line with text right before its `# TYPE` line, and every
    /// sample belongs to a metric so described.
    @Test func everyMetricHasHelpText() async throws {
        try await withHTTPServer { _, http in
            let metrics = try await get(http, "/metrics")
            #expect(metrics.status == "HTTP/1.1 200 OK")
            let lines = metrics.body.split(separator: "\n").map(String.init)
            var described: Set<String> = []
            for (index, line) in lines.enumerated() where line.hasPrefix("# TYPE ") {
                let name = String(line.split(separator: " ")[2])
                let help = index > 0 ? lines[index - 1] : ""
                #expect(help.hasPrefix("# HELP \(name) ") && help.count > "# HELP \(name) ".count, "\(name): \(help)")
                described.insert(name)
            }
            let samples = Set(lines.filter { !$0.hasPrefix("#") }.map { String($0.prefix { $0 != " " && $0 != "{" }) })
            #expect(!samples.isEmpty)
            #expect(samples.isSubset(of: described), "undescribed: \(samples.subtracting(described))")
            for name in ["porter_connections_accepted_total", "porter_uptime_seconds", "porter_http_requests_total"] {
                #expect(described.contains(name))
            }
        }
    }

    @Test func requestsOutsideTheLimitsAreRefused() async throws {
        try await withHTTPServer { _, http in
            #expect(try await get(http, "/nowhere").status == "HTTP/1.1 404 Not Found")
            let post = try await exchange(
                http, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
            #expect(post.status == "HTTP/1.1 405 Method Not Allowed")
            let body = String(repeating: "x", count: 100)
            let large = try await exchange(
                http, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nConnection: close\r\n\r\n\(body)")
            #expect(large.status == "HTTP/1.1 413 Payload Too Large")
            let headers = (0..<400).map { "X-Filler-\($0): \(String(repeating: "y", count: 60))\r\n" }.joined()
            // Over the header limit: answered 400 and closed at once, which may reset the connection before the
            // client reads the answer. Either way it is refused and not held open: the idle timeout is longer than
            // the suite's time limit, so a connection left open would fail the test.
            if let flood = try? await exchange(http, "GET / HTTP/1.1\r\nHost: t\r\n\(headers)\r\n") {
                #expect(flood.status.hasPrefix("HTTP/1.1 4"), "\(flood.status)")
            }
        }
    }

    /// A client that sends its request head a byte at a time, each well within the idle timeout, is closed when
    /// the head's deadline passes: the bytes do not extend it (they used to reset the only timer there was).
    @Test func aTrickledRequestHeadIsClosedAtItsDeadline() async throws {
        let http = HTTPConfiguration(
            listen: .tcp(host: "127.0.0.1", port: 0), requestHeadTimeout: 5 * testSlowdown, idleTimeout: 120)
        try await withHTTPServer(http) { _, endpoint in
            guard case .tcp(_, let port) = endpoint else { return }
            // A request answered at once still works, and its connection stays for the next one.
            let served = try await RawConnection.open(port: port)
            try await served.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            try await waitUntil(seconds: 20) { String(decoding: served.received, as: UTF8.self).hasSuffix("ok\n") }
            let trickler = try await RawConnection.open(port: port)
            let trickle = Task {
                for byte in "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: \(String(repeating: "z", count: 10_000))" {
                    guard trickler.isOpen, !Task.isCancelled else { return }
                    try? await trickler.send(String(byte))
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            defer { trickle.cancel() }
            try await waitUntil(seconds: 30) { !trickler.isOpen && !served.isOpen }
            #expect(trickler.received.isEmpty)
            await served.close()
        }
    }

    /// One address holding its share of connections (silent, or trickling) cannot shut others out: further
    /// connections from it are closed at once, and a monitor on another address still gets `/healthz`.
    @Test func oneAddressCannotTakeEveryConnectionFromAMonitor() async throws {
        let http = HTTPConfiguration(
            listen: .tcp(host: "127.0.0.1", port: 0), maxConnections: 8, maxConnectionsPerSource: 4,
            requestHeadTimeout: 120, idleTimeout: 120)
        try await withHTTPServer(http) { _, endpoint in
            guard case .tcp(_, let port) = endpoint else { return }
            var held: [RawConnection] = []
            for _ in 0..<8 { held.append(try await RawConnection.open(port: port)) }
            let connections = held
            try await waitUntil(seconds: 20) { connections.filter(\.isOpen).count == 4 }
            let refused = (try? await rawExchange(with: endpoint, sending: Array(Self.health.utf8))) ?? []
            #expect(refused.isEmpty, "\(String(decoding: refused, as: UTF8.self))")
            let monitor = try await rawExchange(with: endpoint, sending: Array(Self.health.utf8), from: "127.0.0.2")
            #expect(String(decoding: monitor, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
            #expect(connections.filter(\.isOpen).count == 4)
            for connection in connections { await connection.close() }
        }
    }

    private static let health = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
}
