import PorterProtocol
import Testing

/// The handshake's `publickey` method (docs/PROTOCOL.md section 4.1), both state machines against each other.
@Suite struct KeyHandshakeTests {
    let identity = ServerHandshake.Identity(
        agent: "porter/test", server: "test-host", limits: .init(frames: FrameLimits(), idleTimeout: 30))
    let clientNonce = [UInt8](repeating: 1, count: 32)
    let serverNonce = [UInt8](repeating: 2, count: 32)
    /// A TLS session's binding: keys are used only over TLS.
    static let binding = [UInt8](repeating: 4, count: 32)
    let ann = SSHPrivateKey.generateEd25519(comment: "ann@laptop")
    let bob = SSHPrivateKey.generateP256(comment: "bob@desk")

    /// How one run of the handshake ended.
    struct Outcome {
        var client: ClientHandshake.Action?
        var server: ServerHandshake.Action?
        /// Every non-fatal refusal the server sent, in order.
        var refusals: [ProtocolError] = []
        var principal: Principal?
    }

    func authorized(_ lines: String...) -> AuthorizedKeys {
        AuthorizedKeys(text: lines.joined(separator: "\n"), path: "authorized_keys")
    }

    /// Runs a client offering `keys` (signed by `signers`, by fingerprint) against a server with `credentials`;
    /// `serverBinding` stands for the channel the server sees, which a relay changes.
    func run(
        offering keys: [SSHPrivateKey], credentials: ServerHandshake.Credentials,
        clientBinding: [UInt8] = KeyHandshakeTests.binding, serverBinding: [UInt8] = KeyHandshakeTests.binding
    ) -> Outcome {
        var client = ClientHandshake(
            agent: "porter/test", credential: .keys(keys.map(\.publicKey)), nonce: clientNonce,
            binding: clientBinding)
        var server = ServerHandshake(
            identity: identity, credentials: credentials, nonce: serverNonce, binding: serverBinding)
        var outcome = Outcome()
        var toServer: ConnectionMessage? = client.start()
        while let message = toServer {
            toServer = nil
            let serverAction = server.receive(message)
            outcome.server = serverAction
            let reply: Frame
            switch serverAction {
            case .welcome(let welcome): reply = ConnectionMessage.welcome(welcome).frame
            case .authenticated(let message): reply = message.frame
            case .refuse(let error):
                outcome.refusals.append(error)
                reply = ConnectionMessage.error(.init(error, fatal: false)).frame
            case .fail(let error): reply = ConnectionMessage.error(.init(error, fatal: true)).frame
            }
            let clientAction = client.receive(reply)
            outcome.client = clientAction
            switch clientAction {
            case .sign(let key, let transcript, _):
                let signer = keys.first { $0.publicKey == key }
                guard let signature = try? signer?.signature(for: transcript) else {
                    Issue.record("asked to sign with a key not offered")
                    return outcome
                }
                toServer = client.signed(signature)
            case .switchForm(let next): toServer = next
            default: break
            }
        }
        outcome.principal = server.principal
        return outcome
    }

    @Test func aListedKeyAuthenticatesWithItsLineAsPrincipal() throws {
        let keys = authorized("porter-allow=\"get,ls\" " + ann.publicKey.openSSHLine(comment: "ann"))
        let outcome = run(offering: [ann], credentials: .init(token: nil, authorizedKeys: keys))
        guard case .authenticated = outcome.client, case .authenticated(let ready) = outcome.server else {
            Issue.record("did not authenticate: \(String(describing: outcome.client))")
            return
        }
        // The server proves nothing with a key proof: its certificate does.
        #expect(ready == .ready(.init(proof: nil)))
        guard case .key(let entry, let fingerprint) = try #require(outcome.principal) else {
            Issue.record("not authenticated as a key")
            return
        }
        #expect(fingerprint == ann.publicKey.fingerprint)
        #expect(entry.comment == "ann")
        #expect(entry.options.permits(.get) && !entry.options.permits(.exec))
    }

    @Test func anECDSAKeyAuthenticatesToo() {
        let keys = authorized(bob.publicKey.openSSHLine(comment: "bob"))
        let outcome = run(offering: [bob], credentials: .init(token: "t", authorizedKeys: keys))
        guard case .authenticated = outcome.client else {
            Issue.record("did not authenticate: \(String(describing: outcome.client))")
            return
        }
    }

    @Test func aClientTriesItsKeysInOrderUntilOneIsListed() {
        let keys = authorized(bob.publicKey.openSSHLine(comment: "bob"))
        let outcome = run(offering: [ann, bob], credentials: .init(token: nil, authorizedKeys: keys))
        #expect(outcome.refusals.map(\.code) == [.authFailed])
        #expect(outcome.refusals.first?.message.contains(ann.publicKey.fingerprint) == true)
        guard case .authenticated = outcome.client, case .key(_, let fingerprint)? = outcome.principal else {
            Issue.record("did not authenticate with the second key: \(String(describing: outcome.client))")
            return
        }
        #expect(fingerprint == bob.publicKey.fingerprint)
    }

    @Test func aKeyNotListedIsRefusedAndTheClientGivesUp() {
        let keys = authorized(bob.publicKey.openSSHLine(comment: "bob"))
        let outcome = run(offering: [ann], credentials: .init(token: nil, authorizedKeys: keys))
        guard case .fail(let error) = outcome.client else {
            Issue.record("client did not fail: \(String(describing: outcome.client))")
            return
        }
        #expect(error.code == .authFailed)
        #expect(error.message.contains("is not authorized on this server"))
        #expect(outcome.principal == nil)
    }

    @Test func theLastAttemptAllowedEndsTheConnection() {
        let strangers = (0..<3).map { _ in SSHPrivateKey.generateEd25519() }
        let keys = authorized(ann.publicKey.openSSHLine())
        let outcome = run(
            offering: strangers + [ann], credentials: .init(token: nil, authorizedKeys: keys, maxKeyAttempts: 3))
        #expect(outcome.refusals.count == 2)
        guard case .fail(let error) = outcome.server else {
            Issue.record("server did not end the connection: \(String(describing: outcome.server))")
            return
        }
        #expect(error.message.contains("too many keys tried (3)"))
        #expect(outcome.principal == nil)
    }

    @Test func fromMustPermitTheClientsAddress() {
        let keys = authorized("from=\"127.0.0.1\" " + ann.publicKey.openSSHLine())
        let here = run(offering: [ann], credentials: .init(token: nil, authorizedKeys: keys, peerAddress: "127.0.0.1"))
        guard case .authenticated = here.client else {
            Issue.record("refused from a permitted address: \(String(describing: here.client))")
            return
        }
        for address in ["127.0.0.2", nil] {
            let there = run(offering: [ann], credentials: .init(token: nil, authorizedKeys: keys, peerAddress: address))
            guard case .fail(let error) = there.client else {
                Issue.record("accepted from \(address ?? "a unix socket")")
                continue
            }
            #expect(error.message.contains("is not authorized from \(address ?? "a unix socket")"))
        }
    }

    @Test func aProofMadeThroughARelayIsUseless() {
        // The client's TLS session ends at the relay, whose certificate gives another binding.
        let keys = authorized(ann.publicKey.openSSHLine())
        let outcome = run(
            offering: [ann], credentials: .init(token: nil, authorizedKeys: keys),
            clientBinding: [UInt8](repeating: 7, count: 32), serverBinding: [UInt8](repeating: 9, count: 32))
        guard case .fail(let error) = outcome.server else {
            Issue.record("the relayed proof was accepted: \(String(describing: outcome.server))")
            return
        }
        #expect(error.code == .authFailed)
        #expect(error.message.contains("does not verify"))
    }

    @Test func aSignatureByAnotherKeyIsFatal() throws {
        let keys = authorized(ann.publicKey.openSSHLine())
        var server = ServerHandshake(
            identity: identity, credentials: .init(token: nil, authorizedKeys: keys), nonce: serverNonce,
            binding: Self.binding)
        _ = server.receive(.hello(.init(versions: [2], agent: "a", nonce: .init(clientNonce))))
        let transcript = PublicKeyProof.transcript(
            clientNonce: clientNonce, serverNonce: serverNonce, binding: Self.binding, key: ann.publicKey)
        let forged = try bob.signature(for: transcript)
        let action = server.receive(
            .auth(.init(method: "publickey", key: .init(ann.publicKey.blob), proof: .init(forged.blob))))
        guard case .fail(let error) = action else {
            Issue.record("accepted another key's signature: \(action)")
            return
        }
        #expect(error.code == .authFailed)
    }

    @Test func welcomeOffersTheMethodsTheServerAccepts() {
        let keys = authorized(ann.publicKey.openSSHLine())
        for (credentials, binding, methods) in [
            (ServerHandshake.Credentials(token: "t"), Self.binding, ["hmac-sha256"]),
            (.init(token: "t", authorizedKeys: keys), Self.binding, ["hmac-sha256", "publickey"]),
            (.init(token: nil, authorizedKeys: keys), Self.binding, ["publickey"]),
            // Without TLS a key's proof could be relayed: no keys on plaintext.
            (.init(token: "t", authorizedKeys: keys), [], ["hmac-sha256"]),
        ] {
            var server = ServerHandshake(
                identity: identity, credentials: credentials, nonce: serverNonce, binding: binding)
            guard
                case .welcome(let welcome) = server.receive(
                    .hello(.init(versions: [2], agent: "a", nonce: .init(clientNonce))))
            else {
                Issue.record("no welcome")
                continue
            }
            #expect(welcome.auth == methods)
        }
    }

    @Test func withTheTokenOffTheTokenIsRefusedAndTheClientSaysWhy() {
        let keys = authorized(ann.publicKey.openSSHLine())
        var server = ServerHandshake(
            identity: identity, credentials: .init(token: nil, authorizedKeys: keys), nonce: serverNonce)
        var client = ClientHandshake(agent: "a", token: "t", nonce: clientNonce)
        guard case .welcome(let welcome) = server.receive(client.start()) else {
            Issue.record("no welcome")
            return
        }
        guard case .fail(let error) = client.receive(ConnectionMessage.welcome(welcome).frame) else {
            Issue.record("the client sent its token to a server that turned tokens off")
            return
        }
        #expect(error.message.contains("accepts keys only"))
        let proof = AuthProof(token: "t", clientNonce: clientNonce, serverNonce: serverNonce).proof(for: .client)
        guard case .fail(let refusal) = server.receive(.auth(.init(method: "hmac-sha256", proof: .init(proof)))) else {
            Issue.record("the server accepted a token with tokens off")
            return
        }
        #expect(refusal.message.contains("token authentication is turned off"))
    }

    @Test func aClientOffersNoKeyWithoutTLSAndAServerAcceptsNone() throws {
        let keys = authorized(ann.publicKey.openSSHLine())
        let outcome = run(
            offering: [ann], credentials: .init(token: "t", authorizedKeys: keys), clientBinding: [], serverBinding: [])
        guard case .fail(let error) = outcome.client else {
            Issue.record("a key was offered over plaintext: \(String(describing: outcome.client))")
            return
        }
        #expect(error.message.contains("a key is used only over TLS"))
        // A client that offers one anyway is refused.
        var server = ServerHandshake(
            identity: identity, credentials: .init(token: "t", authorizedKeys: keys), nonce: serverNonce)
        _ = server.receive(.hello(.init(versions: [2], agent: "a", nonce: .init(clientNonce))))
        let transcript = PublicKeyProof.transcript(
            clientNonce: clientNonce, serverNonce: serverNonce, binding: [], key: ann.publicKey)
        let signature = try ann.signature(for: transcript)
        let action = server.receive(
            .auth(.init(method: "publickey", key: .init(ann.publicKey.blob), proof: .init(signature.blob))))
        guard case .fail(let refusal) = action else {
            Issue.record("a key was accepted over plaintext: \(action)")
            return
        }
        #expect(refusal.message.contains("does not offer authentication method 'publickey'"))
    }

    @Test func theTranscriptIsLengthPrefixedFields() {
        let key = ann.publicKey
        let transcript = PublicKeyProof.transcript(
            clientNonce: clientNonce, serverNonce: serverNonce, binding: [], key: key)
        var expected: [UInt8] = [0, 0, 0, 19] + Array("porter-publickey-v1".utf8)
        expected += [0, 0, 0, 32] + clientNonce + [0, 0, 0, 32] + serverNonce + [0, 0, 0, 0]
        expected += [0, 0, 0, UInt8(key.blob.count)] + key.blob
        #expect(transcript == expected)
    }
}
