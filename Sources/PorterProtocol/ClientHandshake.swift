/// The client's side of the handshake as a pure state machine.
///
/// ```
///  start() ─▶ hello ──welcome──▶ auth ──ready (server proof valid)──▶ authenticated
/// ```
///
/// An `error` from the server, or any other message, ends the handshake with that error.
///
/// The client offers version 2, sends its frame limits in `hello`, reads `welcome` (with the channel limits) as the
/// last frame in the handshake form, and sends `auth` in the channel form (docs/PROTOCOL.md section 4).
public struct ClientHandshake: Sendable {
    /// What the client must do after a message.
    public enum Action: Sendable, Equatable {
        /// The `welcome` just read is the last frame in the handshake form. Move both directions of the connection
        /// to the channel form, then send this message (`auth`) and wait for the next.
        case switchForm(then: ConnectionMessage)
        /// Method `publickey`: sign `transcript` with `key` and hand the signature to ``signed(_:)``, which
        /// gives the `auth` to send. When `switchForm`, the `welcome` just read is the last frame in the handshake
        /// form: move both directions of the connection to the channel form first.
        case sign(key: SSHPublicKey, transcript: [UInt8], switchForm: Bool)
        /// The server is authenticated and has accepted the client.
        case authenticated(ConnectionMessage.Welcome)
        /// The handshake failed.
        case fail(ProtocolError)
    }

    /// What the client authenticates with.
    public enum Credential: Sendable {
        /// The server's shared token (method `hmac-sha256`); `orKeys` are offered instead if the server accepts
        /// no token (a token found only by default may be for another server).
        case token(String, orKeys: [SSHPublicKey] = [])
        /// Public keys, offered in order until the server accepts one (method `publickey`); whoever drives the
        /// handshake holds the private keys, or an agent does.
        case keys([SSHPublicKey])
    }

    private enum State {
        case initial
        case awaitingWelcome
        case awaitingReady(AuthProof)
        /// The driver is signing with the first key; the others follow if it is refused.
        case awaitingSignature(key: SSHPublicKey, transcript: [UInt8], rest: ArraySlice<SSHPublicKey>)
        /// The server is judging the key just offered.
        case awaitingVerdict(key: SSHPublicKey, rest: ArraySlice<SSHPublicKey>)
        case done
    }

    private var state = State.initial
    private let limits: FrameLimits?
    private let agent: String
    private let credential: Credential
    private let nonce: [UInt8]
    /// Bytes identifying the secure channel, empty on a plaintext transport. A TLS client learns them only
    /// once the server's certificate has arrived, so they may be set any time before `welcome` is received.
    public var binding: [UInt8]
    /// The server's `welcome`, once read.
    public private(set) var welcome: ConnectionMessage.Welcome?
    /// The key the server accepted, once it has; `nil` for the token.
    public private(set) var acceptedKey: SSHPublicKey?

    /// Prepares a handshake.
    ///
    /// - Parameters:
    ///   - nonce: ``ControlMessage/nonceLength`` fresh random bytes.
    ///   - binding: bytes identifying the secure channel, empty on a plaintext transport.
    ///   - limits: the largest payloads this client accepts, sent in `hello` (absent: the defaults).
    public init(agent: String, token: String, nonce: [UInt8], binding: [UInt8] = [], limits: FrameLimits? = nil) {
        self.init(agent: agent, credential: .token(token, orKeys: []), nonce: nonce, binding: binding, limits: limits)
    }

    /// Prepares a handshake with `credential`.
    public init(
        agent: String, credential: Credential, nonce: [UInt8], binding: [UInt8] = [], limits: FrameLimits? = nil
    ) {
        precondition(
            nonce.count == ControlMessage.nonceLength, "client nonce must be \(ControlMessage.nonceLength) bytes")
        self.limits = limits
        self.agent = agent
        self.credential = credential
        self.nonce = nonce
        self.binding = binding
    }

    /// The first message to send.
    public mutating func start() -> ConnectionMessage {
        state = .awaitingWelcome
        return .hello(
            .init(versions: ControlMessage.supportedVersions, agent: agent, nonce: .init(nonce), limits: limits))
    }

    /// Feeds the next frame from the server: `welcome` in the handshake form, `ready` in the channel form, or an
    /// `error` instead of either.
    public mutating func receive(_ frame: Frame) -> Action {
        let message: ConnectionMessage
        do {
            message = try ConnectionMessage(frame: frame)
        } catch {
            state = .done
            return .fail(error)
        }
        switch (state, message) {
        case (.awaitingVerdict(_, let rest), .error(let body)) where !body.fatal:
            // The key is not accepted here: offer the next.
            guard let next = rest.first else {
                state = .done
                return .fail(body.protocolError)
            }
            return offer(next, rest: rest.dropFirst(), switchForm: false)
        case (.awaitingVerdict(let key, _), .ready):
            // The server is known by its certificate: a key proof has no answer from the server.
            state = .done
            acceptedKey = key
            guard let welcome else { return fail(.unexpectedMessage, "ready before welcome") }
            return .authenticated(welcome)
        case (_, .error(let body)):
            state = .done
            return .fail(body.protocolError)
        case (.awaitingWelcome, .welcome(let welcome)):
            return authenticate(welcome)
        case (.awaitingReady(let proofs), .ready(let ready)):
            state = .done
            guard let proof = ready.proof, proofs.verify(proof.bytes, for: .server), let welcome else {
                return .fail(
                    ProtocolError(.authFailed, "the server could not prove it holds the token; it may be an impostor"))
            }
            return .authenticated(welcome)
        default:
            return fail(.unexpectedMessage, "unexpected \(message.type) from server during the handshake")
        }
    }

    /// Checks the welcome and answers it with the client's proof, in the channel form.
    private mutating func authenticate(_ welcome: ConnectionMessage.Welcome) -> Action {
        guard welcome.version == ConnectionMessage.version else {
            return fail(
                .unsupportedVersion,
                "server chose protocol version \(welcome.version), but this client offered version 2 only")
        }
        guard welcome.nonce.bytes.count == ControlMessage.nonceLength else {
            return fail(.badMessage, "welcome nonce must be \(ControlMessage.nonceLength) bytes")
        }
        self.welcome = welcome
        switch credential {
        case .token(_, let keys) where !welcome.auth.contains(AuthProof.method) && !keys.isEmpty:
            return offer(keys, to: welcome)
        case .token(let token, _):
            guard welcome.auth.contains(AuthProof.method) else {
                return fail(.authFailed, "the server accepts keys only (its token authentication is off); use a key")
            }
            let proofs = AuthProof(
                token: token, clientNonce: nonce, serverNonce: welcome.nonce.bytes, binding: binding)
            state = .awaitingReady(proofs)
            return .switchForm(then: .auth(.init(method: AuthProof.method, proof: .init(proofs.proof(for: .client)))))
        case .keys(let keys):
            return offer(keys, to: welcome)
        }
    }

    /// Offers `keys`, the first now.
    private mutating func offer(_ keys: [SSHPublicKey], to welcome: ConnectionMessage.Welcome) -> Action {
        guard !binding.isEmpty else {
            return fail(
                .authFailed,
                "a key is used only over TLS: without it, a key's proof could be relayed to another server; connect with TLS, or use the token"
            )
        }
        guard welcome.auth.contains(PublicKeyProof.method) else {
            return fail(.authFailed, "the server accepts no keys (it has no authorized keys); use its token")
        }
        guard let first = keys.first else { return fail(.authFailed, "no key to offer") }
        return offer(first, rest: keys.dropFirst(), switchForm: true)
    }

    /// Asks the driver to sign the transcript for `key`.
    private mutating func offer(_ key: SSHPublicKey, rest: ArraySlice<SSHPublicKey>, switchForm: Bool) -> Action {
        let transcript = PublicKeyProof.transcript(
            clientNonce: nonce, serverNonce: welcome?.nonce.bytes ?? [], binding: binding, key: key)
        state = .awaitingSignature(key: key, transcript: transcript, rest: rest)
        return .sign(key: key, transcript: transcript, switchForm: switchForm)
    }

    /// The signature asked for by ``Action/sign(key:transcript:switchForm:)``: gives the `auth` to send, or
    /// `nil` if no signature was asked for.
    public mutating func signed(_ signature: SSHSignature) -> ConnectionMessage? {
        guard case .awaitingSignature(let key, _, let rest) = state else { return nil }
        state = .awaitingVerdict(key: key, rest: rest)
        return .auth(.init(method: PublicKeyProof.method, key: .init(key.blob), proof: .init(signature.blob)))
    }

    private mutating func fail(_ code: ProtocolError.Code, _ message: String) -> Action {
        state = .done
        return .fail(ProtocolError(code, message))
    }
}
