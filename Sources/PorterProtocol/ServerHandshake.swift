/// The server's side of the handshake as a pure state machine: messages in, actions out.
///
/// ```
///  awaitingHello ──hello──▶ awaitingAuth ──auth (proof valid)──▶ authenticated
///        │                       │
///        └── anything else ──────┴── anything else, bad proof ──▶ failed (send error, close)
/// ```
///
/// Nothing but `hello` and `auth` is accepted before authentication succeeds.
public struct ServerHandshake: Sendable {
    /// What the connection must do after a message.
    public enum Action: Sendable, Equatable {
        /// Send this `welcome` in the handshake form, then move both directions of the connection to the channel
        /// form, and wait for `auth`.
        case welcome(ConnectionMessage.Welcome)
        /// Authentication succeeded: send this `ready`; channels may follow.
        case authenticated(ConnectionMessage)
        /// Send this error and close the connection.
        case fail(ProtocolError)
    }

    private enum State {
        case awaitingHello
        case awaitingAuth(version: Int, clientNonce: [UInt8])
        case authenticated(version: Int)
        case failed
    }

    /// What the server says about itself in `welcome`.
    public struct Identity: Sendable {
        /// The software, e.g. `porter/0.1.0`.
        public var agent: String
        /// The host name.
        public var server: String
        /// The limits announced in `welcome`.
        public var limits: ConnectionMessage.Limits
        /// Creates an identity.
        public init(agent: String, server: String, limits: ConnectionMessage.Limits) {
            self.agent = agent
            self.server = server
            self.limits = limits
        }

        /// The protocol versions this server speaks.
        public var versions: [Int] { ControlMessage.supportedVersions }
    }

    private var state = State.awaitingHello
    private let identity: Identity
    private let token: String
    private let nonce: [UInt8]
    private let binding: [UInt8]

    /// Starts a handshake.
    ///
    /// - Parameters:
    ///   - nonce: ``ControlMessage/nonceLength`` fresh random bytes.
    ///   - binding: bytes identifying the secure channel, empty on a plaintext transport.
    public init(identity: Identity, token: String, nonce: [UInt8], binding: [UInt8] = []) {
        precondition(
            nonce.count == ControlMessage.nonceLength, "server nonce must be \(ControlMessage.nonceLength) bytes")
        self.identity = identity
        self.token = token
        self.nonce = nonce
        self.binding = binding
    }

    /// The negotiated version once authenticated.
    public var version: Int? {
        if case .authenticated(let version) = state { return version }
        return nil
    }

    /// The largest payloads the client accepts, from its `hello` (the defaults when it announced none); known from
    /// `hello` on.
    public private(set) var clientLimits = FrameLimits()

    /// Feeds the next message from the client.
    public mutating func receive(_ message: ConnectionMessage) -> Action {
        switch (state, message) {
        case (.awaitingHello, .hello(let hello)):
            guard hello.nonce.bytes.count == ControlMessage.nonceLength else {
                return fail(.badMessage, "hello nonce must be \(ControlMessage.nonceLength) bytes")
            }
            guard let version = hello.versions.filter(identity.versions.contains).max() else {
                let ours = identity.versions.map(String.init).joined(separator: ", ")
                let theirs = hello.versions.prefix(8).map(String.init).joined(separator: ", ")
                return fail(
                    .unsupportedVersion,
                    "server speaks protocol version \(ours), client offers [\(theirs)]; upgrade the older side"
                )
            }
            // Decoding checked the limits against their ranges (``ConnectionMessage/validate()``).
            clientLimits = hello.limits ?? FrameLimits()
            state = .awaitingAuth(version: version, clientNonce: hello.nonce.bytes)
            return .welcome(
                ConnectionMessage.Welcome(
                    version: version, agent: identity.agent, server: identity.server, nonce: .init(nonce),
                    auth: [AuthProof.method], limits: identity.limits))

        case (.awaitingAuth(let version, let clientNonce), .auth(let auth)):
            guard auth.method == AuthProof.method else {
                return fail(.authFailed, "unknown authentication method '\(auth.method.prefix(32))'")
            }
            let proofs = AuthProof(token: token, clientNonce: clientNonce, serverNonce: nonce, binding: binding)
            guard proofs.verify(auth.proof.bytes, for: .client) else {
                return fail(.authFailed, "authentication failed: the client's token does not match the server's")
            }
            state = .authenticated(version: version)
            return .authenticated(.ready(.init(proof: .init(proofs.proof(for: .server)))))

        case (.awaitingHello, _):
            return fail(.unexpectedMessage, "expected hello, got \(message.type)")
        case (.awaitingAuth, _):
            return fail(.unexpectedMessage, "expected auth, got \(message.type); authenticate first")
        case (.authenticated, _), (.failed, _):
            return fail(.unexpectedMessage, "handshake already finished")
        }
    }

    private mutating func fail(_ code: ProtocolError.Code, _ message: String) -> Action {
        state = .failed
        return .fail(ProtocolError(code, message))
    }
}
