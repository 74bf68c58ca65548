import PorterProtocol
import Testing

@Suite struct HandshakeTests {
    let identity = ServerHandshake.Identity(
        agent: "porter/test", server: "test-host",
        limits: .init(frames: FrameLimits(maxControlPayload: 65_536, maxDataPayload: 32_768), idleTimeout: 30))
    let clientNonce = [UInt8](repeating: 1, count: 32)
    let serverNonce = [UInt8](repeating: 2, count: 32)

    /// Runs both state machines against each other; returns the client's and the server's last actions.
    private func run(clientToken: String, serverToken: String) -> (ClientHandshake.Action?, ServerHandshake.Action?) {
        var client = ClientHandshake(agent: "porter/test", token: clientToken, nonce: clientNonce)
        var server = ServerHandshake(identity: identity, token: serverToken, nonce: serverNonce)
        var toServer: ConnectionMessage? = client.start()
        var lastClient: ClientHandshake.Action?
        var lastServer: ServerHandshake.Action?
        while let message = toServer {
            toServer = nil
            let serverAction = server.receive(message)
            lastServer = serverAction
            let reply: Frame
            switch serverAction {
            case .welcome(let welcome): reply = ConnectionMessage.welcome(welcome).frame
            case .authenticated(let message): reply = message.frame
            case .fail(let error): reply = ConnectionMessage.error(.init(error, fatal: true)).frame
            case .refuse(let error): reply = ConnectionMessage.error(.init(error, fatal: false)).frame
            }
            let clientAction = client.receive(reply)
            lastClient = clientAction
            if case .switchForm(let next) = clientAction { toServer = next }
        }
        return (lastClient, lastServer)
    }

    @Test func succeedsWithTheSameToken() {
        let (client, server) = run(clientToken: "secret", serverToken: "secret")
        guard case .authenticated(let welcome) = client else {
            Issue.record("client did not authenticate: \(String(describing: client))")
            return
        }
        #expect(welcome.server == "test-host")
        #expect(welcome.limits.frames.maxDataPayload == 32_768)
        guard case .authenticated = server else {
            Issue.record("server did not authenticate")
            return
        }
    }

    @Test func refusesAWrongToken() {
        let (client, server) = run(clientToken: "guess", serverToken: "secret")
        #expect(
            server
                == .fail(
                    ProtocolError(.authFailed, "authentication failed: the client's token does not match the server's"))
        )
        guard case .fail(let error) = client else {
            Issue.record("client did not fail")
            return
        }
        #expect(error.code == .authFailed)
    }

    @Test func refusesAnythingButHelloFirst() {
        var server = ServerHandshake(identity: identity, token: "t", nonce: serverNonce)
        guard case .fail(let error) = server.receive(.ping(.init(id: 1))) else {
            Issue.record("accepted a request before hello")
            return
        }
        #expect(error.code == .unexpectedMessage)
    }

    @Test func refusesRequestsBeforeAuthentication() {
        var server = ServerHandshake(identity: identity, token: "t", nonce: serverNonce)
        _ = server.receive(.hello(.init(versions: [2], agent: "a", nonce: .init(clientNonce))))
        guard case .fail(let error) = server.receive(.keepalive) else {
            Issue.record("accepted a keepalive before auth")
            return
        }
        #expect(error.code == .unexpectedMessage)
        #expect(server.version == nil)
    }

    @Test(arguments: [[1], [3], [1, 3]]) func refusesAHelloWithoutVersion2(versions: [Int]) {
        var server = ServerHandshake(identity: identity, token: "t", nonce: serverNonce)
        guard
            case .fail(let error) = server.receive(
                .hello(.init(versions: versions, agent: "a", nonce: .init(clientNonce))))
        else {
            Issue.record("accepted versions \(versions)")
            return
        }
        #expect(error.code == .unsupportedVersion)
        #expect(error.message.hasPrefix("server speaks protocol version 2, client offers"))
    }

    @Test func choosesVersion2AmongOthers() {
        var server = ServerHandshake(identity: identity, token: "t", nonce: serverNonce)
        guard
            case .welcome(let welcome) = server.receive(
                .hello(.init(versions: [1, 2, 3], agent: "a", nonce: .init(clientNonce))))
        else {
            Issue.record("refused a hello that offers version 2")
            return
        }
        #expect(welcome.version == 2)
    }

    @Test func refusesAShortNonce() {
        var other = ServerHandshake(identity: identity, token: "t", nonce: serverNonce)
        guard case .fail(let short) = other.receive(.hello(.init(versions: [2], agent: "a", nonce: .init([1])))) else {
            Issue.record("accepted a 1-byte nonce")
            return
        }
        #expect(short.code == .badMessage)
    }

    @Test func clientRejectsAServerThatCannotProveTheToken() {
        var client = ClientHandshake(agent: "a", token: "secret", nonce: clientNonce)
        _ = client.start()
        let welcome = ConnectionMessage.Welcome(
            version: 2, agent: "x", server: "impostor", nonce: .init(serverNonce), auth: ["hmac-sha256"],
            limits: identity.limits)
        guard case .switchForm = client.receive(ConnectionMessage.welcome(welcome).frame) else {
            Issue.record("client did not answer welcome")
            return
        }
        let forged = AuthProof(token: "other", clientNonce: clientNonce, serverNonce: serverNonce).proof(for: .server)
        guard case .fail(let error) = client.receive(ConnectionMessage.ready(.init(proof: .init(forged))).frame) else {
            Issue.record("client accepted a forged server proof")
            return
        }
        #expect(error.code == .authFailed)
    }

    @Test func proofsDependOnRoleNoncesAndBinding() {
        let base = AuthProof(token: "t", clientNonce: clientNonce, serverNonce: serverNonce)
        let client = base.proof(for: .client)
        #expect(client != base.proof(for: .server))
        #expect(base.verify(client, for: .client))
        #expect(!base.verify(client, for: .server))
        let bound = AuthProof(token: "t", clientNonce: clientNonce, serverNonce: serverNonce, binding: [9])
        #expect(!bound.verify(client, for: .client))
        let swapped = AuthProof(token: "t", clientNonce: serverNonce, serverNonce: clientNonce)
        #expect(!swapped.verify(client, for: .client))
    }

    /// The worked example in docs/PROTOCOL.md.
    @Test func matchesTheDocumentedTestVector() {
        let proofs = AuthProof(token: "test-token", clientNonce: clientNonce, serverNonce: serverNonce)
        let hex = { (bytes: [UInt8]) in
            bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
                .joined()
        }
        #expect(hex(proofs.proof(for: .client)) == "7cb595c4385bfd6296ede794e5a89a07512d635025be9d8a48bffd3bdf4e8a55")
        #expect(hex(proofs.proof(for: .server)) == "34a5f1aa72e48b59c5b66e1eb1089531a5b77836ed3231811118b719ddd39e65")
    }
}
