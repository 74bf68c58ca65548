/// The server's side of the handshake as a pure state machine: messages in, actions out.
///
/// ```
///  awaitingHello ──hello──▶ awaitingAuth ──auth (proof valid)──▶ authenticated
///        │                    │     ▲
///        │                    └─────┘ publickey: a valid signature by a key not accepted (refuse, not fatal)
///        └── anything else ───┴── anything else, bad proof, too many keys ──▶ failed (send error, close)
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
        /// Send this error, not fatal, and wait for another `auth`: the key offered is not accepted.
        case refuse(ProtocolError)
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

    /// What a client may authenticate with.
    public struct Credentials: Sendable {
        /// The shared token (method `hmac-sha256`); `nil` when token authentication is off.
        public var token: String?
        /// The keys accepted (method `publickey`), asked for when a key is offered, so that a file read again when
        /// it changes counts as it is then; `nil` when the server has no authorized keys file.
        public var authorizedKeys: (@Sendable () -> AuthorizedKeys)?
        /// The client's numeric address, which a key's `from="…"` must permit; `nil` on a unix socket, where
        /// no `from` pattern matches.
        public var peerAddress: String?
        /// How many `publickey` attempts one connection may make; the last refusal is fatal.
        public var maxKeyAttempts: Int

        /// The default of ``maxKeyAttempts``, OpenSSH's `MaxAuthTries`.
        public static let defaultMaxKeyAttempts = 6

        /// Creates credentials; at least one of `token` and `authorizedKeys` should be given, or no client can
        /// authenticate.
        public init(
            token: String?, authorizedKeys: AuthorizedKeys? = nil, peerAddress: String? = nil,
            maxKeyAttempts: Int = Credentials.defaultMaxKeyAttempts
        ) {
            var currentKeys: (@Sendable () -> AuthorizedKeys)?
            if let authorizedKeys { currentKeys = { authorizedKeys } }
            self.init(
                token: token, currentKeys: currentKeys, peerAddress: peerAddress, maxKeyAttempts: maxKeyAttempts)
        }

        /// Creates credentials whose keys are `currentKeys()` at each key offered.
        public init(
            token: String?, currentKeys: (@Sendable () -> AuthorizedKeys)?, peerAddress: String? = nil,
            maxKeyAttempts: Int = Credentials.defaultMaxKeyAttempts
        ) {
            self.token = token
            self.authorizedKeys = currentKeys
            self.peerAddress = peerAddress
            self.maxKeyAttempts = max(1, maxKeyAttempts)
        }

        /// The methods offered in `welcome`, in the order a client should prefer them. Keys only over TLS
        /// (`secure`): without a channel binding a key's proof could be relayed to another server.
        public func methods(secure: Bool) -> [String] {
            (token == nil ? [] : [AuthProof.method])
                + (authorizedKeys == nil || !secure ? [] : [PublicKeyProof.method])
        }
    }

    private var state = State.awaitingHello
    private let identity: Identity
    private let credentials: Credentials
    private let nonce: [UInt8]
    private let binding: [UInt8]
    private var keyAttempts = 0
    /// The state before the message being handled.
    private var previousState = State.awaitingHello
    /// The key of the `auth` being handled, once its blob parsed.
    private var offeredKey: SSHPublicKey?

    /// Who the client authenticated as, once it has.
    public private(set) var principal: Principal?

    /// The outcome of the last `auth` message, for the audit log: set by each ``receive(_:)`` of an `auth`,
    /// `nil` after any other message.
    public private(set) var lastAttempt: Attempt?

    /// Starts a handshake that accepts the token only.
    public init(identity: Identity, token: String, nonce: [UInt8], binding: [UInt8] = []) {
        self.init(identity: identity, credentials: Credentials(token: token), nonce: nonce, binding: binding)
    }

    /// Starts a handshake.
    ///
    /// - Parameters:
    ///   - nonce: ``ControlMessage/nonceLength`` fresh random bytes.
    ///   - binding: bytes identifying the secure channel, empty on a plaintext transport.
    public init(identity: Identity, credentials: Credentials, nonce: [UInt8], binding: [UInt8] = []) {
        precondition(
            nonce.count == ControlMessage.nonceLength, "server nonce must be \(ControlMessage.nonceLength) bytes")
        self.identity = identity
        self.credentials = credentials
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
        lastAttempt = nil
        offeredKey = nil
        let action = handle(message)
        if case .auth(let auth) = message, case .awaitingAuth = previousState {
            lastAttempt = Attempt(method: auth.method, key: offeredKey, action: action, principal: principal)
        }
        return action
    }

    private mutating func handle(_ message: ConnectionMessage) -> Action {
        previousState = state
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
                    auth: credentials.methods(secure: !binding.isEmpty), limits: identity.limits))

        case (.awaitingAuth(let version, let clientNonce), .auth(let auth)):
            switch auth.method {
            case AuthProof.method:
                guard let token = credentials.token else {
                    return fail(.authFailed, "token authentication is turned off on this server; use a key")
                }
                let proofs = AuthProof(token: token, clientNonce: clientNonce, serverNonce: nonce, binding: binding)
                guard proofs.verify(auth.proof.bytes, for: .client) else {
                    return fail(.authFailed, "authentication failed: the client's token does not match the server's")
                }
                return authenticated(as: .token, version: version, proof: proofs.proof(for: .server))
            case PublicKeyProof.method where credentials.methods(secure: !binding.isEmpty).contains(auth.method):
                return authenticate(auth, version: version, clientNonce: clientNonce)
            default:
                return fail(.authFailed, "this server does not offer authentication method '\(auth.method.prefix(32))'")
            }

        case (.awaitingHello, _):
            return fail(.unexpectedMessage, "expected hello, got \(message.type)")
        case (.awaitingAuth, _):
            return fail(.unexpectedMessage, "expected auth, got \(message.type); authenticate first")
        case (.authenticated, _), (.failed, _):
            return fail(.unexpectedMessage, "handshake already finished")
        }
    }

    /// Method `publickey`: the signature must verify first, so that only the key's holder learns whether and why
    /// the key is refused. A key that is not listed (or not from this address) is refused without ending the
    /// connection, so that a client holding several keys can try the next, up to ``Credentials/maxKeyAttempts``.
    private mutating func authenticate(_ auth: ControlMessage.Auth, version: Int, clientNonce: [UInt8]) -> Action {
        guard let currentKeys = credentials.authorizedKeys, let blob = auth.key?.bytes else {
            return fail(.badMessage, "'auth' with method 'publickey' must carry 'key'")
        }
        let key: SSHPublicKey
        let signature: SSHSignature
        do {
            key = try SSHPublicKey(blob: blob)
            offeredKey = key
            signature = try SSHSignature(blob: auth.proof.bytes)
        } catch {
            return fail(.authFailed, "authentication failed: \(error.description)")
        }
        let transcript = PublicKeyProof.transcript(
            clientNonce: clientNonce, serverNonce: nonce, binding: binding, key: key)
        guard key.isValidSignature(signature, for: transcript) else {
            return fail(.authFailed, "authentication failed: the signature of key \(key.fingerprint) does not verify")
        }
        keyAttempts += 1
        let listed = currentKeys().entries(matching: blob)
        guard !listed.isEmpty else {
            return refuse("key \(key.fingerprint) is not authorized on this server")
        }
        let address = credentials.peerAddress
        guard let entry = listed.first(where: { address.map($0.options.permits(address:)) ?? ($0.options.from == nil) })
        else {
            return refuse("key \(key.fingerprint) is not authorized from \(address ?? "a unix socket")")
        }
        return authenticated(as: .key(entry, fingerprint: key.fingerprint), version: version, proof: nil)
    }

    /// A refused key: non-fatal while attempts remain, so the client may try another.
    private mutating func refuse(_ message: String) -> Action {
        guard keyAttempts < credentials.maxKeyAttempts else {
            return fail(.authFailed, message + "; too many keys tried (\(credentials.maxKeyAttempts))")
        }
        return .refuse(ProtocolError(.authFailed, message))
    }

    private mutating func authenticated(as principal: Principal, version: Int, proof: [UInt8]?) -> Action {
        self.principal = principal
        state = .authenticated(version: version)
        return .authenticated(.ready(.init(proof: proof.map { .init($0) })))
    }

    private mutating func fail(_ code: ProtocolError.Code, _ message: String) -> Action {
        state = .failed
        return .fail(ProtocolError(code, message))
    }
}

extension ServerHandshake {
    /// What one `auth` message came to: the method, the key offered, and whether it was accepted, refused with
    /// another try left, or failed the connection.
    public struct Attempt: Sendable, Equatable {
        /// The method named, cut to 32 characters.
        public var method: String
        /// The fingerprint of the key offered (method `publickey`), once its blob parsed.
        public var fingerprint: String?
        /// The key's type, such as `ssh-ed25519`.
        public var keyType: String?
        /// Accepted with a key: the comment of the authorized keys line that accepted it.
        public var comment: String?
        /// Accepted with a key: that line's number in the file.
        public var line: Int?
        /// Why the attempt was refused; `nil` when it was accepted.
        public var refusal: ProtocolError?
        /// Whether the refusal ended the connection.
        public var fatal: Bool

        /// Whether the client is now authenticated.
        public var accepted: Bool { refusal == nil }

        init(method: String, key: SSHPublicKey?, action: Action, principal: Principal?) {
            // Cut by scalars: a character may hold any number of combining marks.
            self.method = String(String.UnicodeScalarView(method.unicodeScalars.prefix(32)))
            self.fingerprint = key?.fingerprint
            self.keyType = key?.algorithm.rawValue
            self.fatal = false
            switch action {
            case .authenticated:
                if case .key(let entry, _) = principal {
                    comment = entry.comment
                    line = entry.line
                }
            case .refuse(let error):
                refusal = error
            case .fail(let error):
                refusal = error
                fatal = true
            case .welcome:
                break
            }
        }
    }
}
