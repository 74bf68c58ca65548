import NIOCore
import Porter
import PorterProtocol
import Testing

@Suite struct ServerTests {
    @Test func helloReportsTheServerAndMeasuresRoundTrips() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                #expect(connection.version == 2)
                #expect(connection.welcome.server == "test-host")
                #expect(connection.welcome.agent == PorterVersion.agent)
                let rtt = try await connection.ping()
                #expect(rtt > .zero)
            }
        }
    }

    @Test func severalClientsEchoAtOnce() async throws {
        try await withTestServer { server in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<20 {
                    group.addTask {
                        try await server.withClient { connection in
                            let echo = try await connection.echo()
                            for round in 0..<50 {
                                let text = "client \(client) round \(round) \u{00E9}\u{0}"
                                let answer = try await echo.roundTrip(ByteBuffer(string: text))
                                #expect(String(buffer: answer) == "CLIENT \(client) ROUND \(round) \u{00E9}\u{0}")
                            }
                            try await echo.sender.finish()
                            #expect(try await echo.receive() == nil)
                            // The connection is usable again after echo mode.
                            _ = try await connection.ping()
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func aWrongTokenIsRefused() async throws {
        try await withTestServer { server in
            do {
                try await server.withClient(token: "wrong") { _ in }
                Issue.record("connected with a wrong token")
            } catch let error as PorterError {
                #expect(error.kind == .authentication)
                #expect(error.code == .authFailed)
            }
        }
    }

    @Test func servesAUnixSocket() async throws {
        let path = "/tmp/porter-test-\(UInt32.random(in: .min ... .max)).sock"
        try await withTestServer(listen: [.unix(path: path)]) { server in
            #expect(server.endpoint == .unix(path: path))
            try await server.withClient { connection in
                let echo = try await connection.echo()
                #expect(String(buffer: try await echo.roundTrip(ByteBuffer(string: "unix"))) == "UNIX")
            }
        }
    }

    @Test func servesIPv6AndIPv4AtOnce() async throws {
        try await withTestServer(listen: [.tcp(host: "127.0.0.1", port: 0), .tcp(host: "::1", port: 0)]) { server in
            #expect(server.endpoints.count == 2)
            for endpoint in server.endpoints {
                let name = try await server.withClient(at: endpoint) { $0.welcome.server }
                #expect(name == "test-host")
            }
            guard case .tcp(let host, _) = server.endpoints[1] else { throw TestFailure("not TCP") }
            #expect(host == "::1")
        }
    }

    @Test func aHugeLengthPrefixGetsAnErrorAndOthersAreUnaffected() async throws {
        try await withTestServer(plaintext: true) { server in
            try await server.withClient { bystander in
                let echo = try await bystander.echo()
                // Before authenticating, a client declares a 4 GiB control frame.
                let reply = try await rawExchange(with: server.endpoint, sending: [0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF])
                let answer = try frames(in: reply)
                #expect(answer.count == 1)
                guard case .error(let body) = try ConnectionMessage(frame: answer[0]) else {
                    throw TestFailure("expected an error message")
                }
                #expect(body.code == .frameTooLarge)
                #expect(body.fatal)
                #expect(String(buffer: try await echo.roundTrip(ByteBuffer(string: "still here"))) == "STILL HERE")
            }
        }
    }

    @Test(arguments: [
        ([UInt8](repeating: 0x47, count: 64), ProtocolError.Code.badFrame),
        (Array("GET / HTTP/1.1\r\n\r\n".utf8), .badFrame),
        ([0x01, 0x00, 0x00, 0x00, 0x00, 0x03] + Array("{x}".utf8), .badMessage),
        (Array("\u{01}\u{00}\u{00}\u{00}\u{00}\u{0F}{\"type\":\"echo\"}".utf8), .badMessage),
        (ConnectionMessage.ping(.init(id: 1)).frame.encoded().readableBytesView.map { $0 }, .unexpectedMessage),
    ])
    func garbageGetsAnErrorFrameAndTheConnectionCloses(bytes: [UInt8], code: ProtocolError.Code) async throws {
        try await withTestServer(plaintext: true) { server in
            let reply = try frames(in: try await rawExchange(with: server.endpoint, sending: bytes))
            guard let last = reply.last, case .error(let body) = try ConnectionMessage(frame: last) else {
                throw TestFailure("expected an error message, got \(reply)")
            }
            #expect(body.code == code)
        }
    }

    @Test func unauthenticatedConnectionsAreClosedAtTheDeadline() async throws {
        try await withTestServer(plaintext: true, authTimeout: 0.2) { server in
            let reply = try frames(in: try await rawExchange(with: server.endpoint, sending: []))
            guard let first = reply.first, case .error(let body) = try ConnectionMessage(frame: first) else {
                throw TestFailure("expected an error message")
            }
            #expect(body.code == .authTimeout)
        }
    }

    @Test func connectionsBeyondTheLimitAreRefused() async throws {
        try await withTestServer(maxConnections: 1) { server in
            try await server.withClient { _ in
                do {
                    try await server.withClient { _ in }
                    Issue.record("a second connection was accepted")
                } catch let error as PorterError {
                    #expect(error.code == .serverBusy)
                }
            }
            // Once the server has closed the first connection, there is room again.
            try await waitUntil { server.server.connectionCount == 0 }
            let name = try await server.withClient { $0.welcome.server }
            #expect(name == "test-host")
        }
    }

    @Test func keepalivesHoldAnIdleConnectionOpenPastTheIdleTimeout() async throws {
        // Keepalives go every third of the timeout, so a keepalive may be two thirds of it late: 10 s leaves a
        // loaded machine more than 6 s, where 3 s (2 s of slack) was seen to be too little.
        try await withTestServer(plaintext: true, authTimeout: 20 * testSlowdown, idleTimeout: 10 * testSlowdown) {
            server in
            try await server.withClient { connection in
                try await Task.sleep(for: .seconds(12 * testSlowdown))
                _ = try await connection.ping()
            }
            // A raw client that authenticates nothing and sends nothing is closed (auth deadline or idle).
            let reply = try frames(in: try await rawExchange(with: server.endpoint, sending: []))
            guard let first = reply.first, case .error(let body) = try ConnectionMessage(frame: first) else {
                throw TestFailure("expected an error message")
            }
            #expect(body.code == .idleTimeout)
        }
    }
}
