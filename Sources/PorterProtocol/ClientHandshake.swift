/// The client's side of the handshake as a pure state machine.
///
/// ```
///  start() ─▶ hello ──welcome──▶ auth ──ready (server proof valid)──▶ authenticated
/// ```
///
/// An `error` from the server, or any other message, ends the handshake with that error.
public struct ClientHandshake: Sendable {
    /// What the client must do after a message.
    public enum Action: Sendable, Equatable {
        /// Send this message and wait for the next.
        case send(ControlMessage)
        /// The server is authenticated and has accepted the client.
        case authenticated(ControlMessage.Welcome)
        /// The handshake failed.
        case fail(ProtocolError)
    }

    private enum State {
        case initial
        case awaitingWelcome
        case awaitingReady(ControlMessage.Welcome, AuthProof)
        case done
    }

    private var state = State.initial
    private let agent: String
    private let token: String
    private let nonce: [UInt8]
    /// Bytes identifying the secure channel, empty on a plaintext transport. A TLS client learns them only
    /// once the server's certificate has arrived, so they may be set any time before `welcome` is received.
    public var binding: [UInt8]

    /// Prepares a handshake.
    ///
    /// - Parameters:
    ///   - nonce: ``ControlMessage/nonceLength`` fresh random bytes.
    ///   - binding: bytes identifying the secure channel, empty on a plaintext transport.
    public init(agent: String, token: String, nonce: [UInt8], binding: [UInt8] = []) {
        precondition(
            nonce.count == ControlMessage.nonceLength, "client nonce must be \(ControlMessage.nonceLength) bytes")
        self.agent = agent
        self.token = token
        self.nonce = nonce
        self.binding = binding
    }

    /// The first message to send.
    public mutating func start() -> ControlMessage {
        state = .awaitingWelcome
        return .hello(.init(versions: ControlMessage.supportedVersions, agent: agent, nonce: .init(nonce)))
    }

    /// Feeds the next message from the server.
    public mutating func receive(_ message: ControlMessage) -> Action {
        switch (state, message) {
        case (_, .error(let body)):
            state = .done
            return .fail(body.protocolError)

        case (.awaitingWelcome, .welcome(let welcome)):
            guard ControlMessage.supportedVersions.contains(welcome.version) else {
                return fail(
                    .unsupportedVersion,
                    "server chose protocol version \(welcome.version), which this client does not speak")
            }
            guard welcome.nonce.bytes.count == ControlMessage.nonceLength else {
                return fail(.badMessage, "welcome nonce must be \(ControlMessage.nonceLength) bytes")
            }
            guard welcome.auth.contains(AuthProof.method) else {
                return fail(.authFailed, "server offers no authentication method this client knows")
            }
            let proofs = AuthProof(token: token, clientNonce: nonce, serverNonce: welcome.nonce.bytes, binding: binding)
            state = .awaitingReady(welcome, proofs)
            return .send(.auth(.init(method: AuthProof.method, proof: .init(proofs.proof(for: .client)))))

        case (.awaitingReady(let welcome, let proofs), .ready(let ready)):
            state = .done
            guard proofs.verify(ready.proof.bytes, for: .server) else {
                return .fail(
                    ProtocolError(.authFailed, "the server could not prove it holds the token; it may be an impostor"))
            }
            return .authenticated(welcome)

        default:
            return fail(.unexpectedMessage, "unexpected \(message.type) from server during the handshake")
        }
    }

    private mutating func fail(_ code: ProtocolError.Code, _ message: String) -> Action {
        state = .done
        return .fail(ProtocolError(code, message))
    }
}
