import Foundation
import NIOCore
import Porter
import Testing

/// The classic listeners' limits: idle connections are closed, one address cannot lock a listener, classic http
/// closes after a malformed request, and classic exec output is bounded across all connections.
@Suite(.timeLimit(.minutes(3))) struct ClassicLimitTests {
    private static let tcpListeners = ["classic echo", "classic exec", "classic ftp", "classic http", "classic chat"]

    /// Runs a server with the classic listeners of `classic` (on free ports: ``ClassicConfiguration/anyPorts``).
    private func withClassicServer(
        _ classic: ClassicConfiguration, _ body: @Sendable (TestServer) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { root in
            let configure: (inout ServerConfiguration) -> Void = {
                $0.classic = classic
                $0.root = root
            }
            try await withTestServer(configure: configure, body)
        }
    }

    /// A silent connection to any classic TCP listener is closed once the idle timeout passes; a classic exec
    /// command that runs longer than that, silently, still gets its answer.
    @Test func everyClassicListenerClosesAnIdleConnection() async throws {
        var classic = ClassicConfiguration.anyPorts()
        // Short, yet long enough for a loaded machine to send a request right after connecting (1.5 s was not,
        // once: the whole suite runs at once on two cores).
        let idleTimeout = 3 * testSlowdown
        classic.idleTimeout = idleTimeout
        try await withClassicServer(classic) { server in
            var idle: [RawConnection] = []
            for name in Self.tcpListeners { idle.append(try await RawConnection.open(port: try server.port(of: name))) }
            let connections = idle
            try await waitUntil(seconds: 30) { connections.allSatisfy { !$0.isOpen } }
            let exec = try await RawConnection.open(port: try server.port(of: "classic exec"))
            try await exec.send("sleep \(Int(idleTimeout * 2) + 1); echo done")
            try await waitUntil(seconds: 30) { exec.received.count == 9 || !exec.isOpen }
            #expect(exec.received == [5, 0, 0, 0] + Array("done\n".utf8))
            await exec.close()
        }
    }

    /// Connections from one address beyond its share are closed at once, on every classic TCP listener, while
    /// another address is served.
    @Test func oneAddressCannotLockAClassicListener() async throws {
        var classic = ClassicConfiguration.anyPorts()
        classic.maxConnectionsPerSource = 2
        classic.idleTimeout = 120
        try await withClassicServer(classic) { server in
            var held: [RawConnection] = []
            for name in Self.tcpListeners {
                let port = try server.port(of: name)
                var connections: [RawConnection] = []
                for _ in 0..<3 { connections.append(try await RawConnection.open(port: port)) }
                let opened = connections
                try await waitUntil(seconds: 20) { opened.filter(\.isOpen).count == 2 }
                held += connections
            }
            let echo = try await RawConnection.open(port: try server.port(of: "classic echo"), from: "127.0.0.2")
            try await echo.send("hello")
            let exec = try await RawConnection.open(port: try server.port(of: "classic exec"), from: "127.0.0.2")
            try await exec.send("echo hi")
            let http = try await RawConnection.open(port: try server.port(of: "classic http"), from: "127.0.0.2")
            try await http.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            try await waitUntil(seconds: 20) {
                echo.received == Array("HELLO".utf8) && exec.received == [3, 0, 0, 0] + Array("hi\n".utf8)
                    && String(decoding: http.received, as: UTF8.self).hasSuffix("Hello, World")
            }
            for connection in held + [echo, exec, http] { await connection.close() }
        }
    }

    /// A request that is not HTTP is answered 400 and its connection closed (it used to stay open, answered
    /// `Connection: close`).
    @Test func classicHTTPClosesAfterAMalformedRequest() async throws {
        var classic = ClassicConfiguration.anyPorts()
        classic.idleTimeout = 120
        try await withClassicServer(classic) { server in
            let connection = try await RawConnection.open(port: try server.port(of: "classic http"))
            try await connection.send("this is not HTTP at all\r\n\r\n")
            try await waitUntil(seconds: 20) { !connection.isOpen }
            let answer = String(decoding: connection.received, as: UTF8.self)
            #expect(answer.isEmpty || answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
        }
    }

    /// Classic exec output is drawn from one budget for all connections: a command that writes more than is
    /// left is killed and what fitted is sent, and the budget comes back once the reply has gone.
    @Test func classicExecOutputIsBoundedInTotal() async throws {
        var classic = ClassicConfiguration.anyPorts()
        classic.maxExecOutput = 1 << 20
        classic.maxExecOutputTotal = 1000
        try await withClassicServer(classic) { server in
            let port = try server.port(of: "classic exec")
            let connection = try await RawConnection.open(port: port)
            let big = try await reply(to: "head -c 5000 /dev/zero", over: connection)
            #expect(big.count <= 1000)
            for _ in 0..<3 {
                #expect(try await reply(to: "head -c 600 /dev/zero", over: connection).count == 600)
            }
            await connection.close()
        }
    }

    /// Sends `command` to a classic exec connection and returns the reply's body.
    private func reply(to command: String, over connection: RawConnection) async throws -> [UInt8] {
        let before = connection.received.count
        try await connection.send(command)
        let length = { @Sendable () -> Int? in
            let bytes = connection.received.dropFirst(before)
            guard bytes.count >= 4 else { return nil }
            return bytes.prefix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        try await waitUntil(seconds: 30) {
            !connection.isOpen || length().map { connection.received.count - before >= 4 + $0 } == true
        }
        let total = try #require(length())
        return Array(connection.received.dropFirst(before + 4).prefix(total))
    }
}
