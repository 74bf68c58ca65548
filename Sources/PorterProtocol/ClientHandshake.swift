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
        /// The server is authenticated and has accepted the client.
        case authenticated(ConnectionMessage.Welcome)
        /// The handshake failed.
        case fail(ProtocolError)
    }

    private enum State {
        case initial
        case awaitingWelcome
        case awaitingReady(AuthProof)
        case done
    }

    private var state = State.initial
    private let limits: FrameLimits?
    private let agent: String
    private let token: String
    private let nonce: [UInt8]
    /// Bytes identifying the secure channel, empty on a plaintext transport. A TLS client learns them only
    /// once the server's certificate has arrived, so they may be set any time before `welcome` is received.
    public var binding: [UInt8]
    /// The server's `welcome`, once read.
    public private(set) var welcome: ConnectionMessage.Welcome?

    /// Prepares a handshake.
    ///
    /// - Parameters:
    ///   - nonce: ``ControlMessage/nonceLength`` fresh random bytes.
    ///   - binding: bytes identifying the secure channel, empty on a plaintext transport.
    ///   - limits: the largest payloads this client accepts, sent in `hello` (absent: the defaults).
    public init(agent: String, token: String, nonce: [UInt8], binding: [UInt8] = [], limits: FrameLimits? = nil) {
        precondition(
            nonce.count == ControlMessage.nonceLength, "client nonce must be \(ControlMessage.nonceLength) bytes")
        self.limits = limits
        self.agent = agent
        self.token = token
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
        case (_, .error(let body)):
            state = .done
            return .fail(body.protocolError)
        case (.awaitingWelcome, .welcome(let welcome)):
            return authenticate(welcome)
        case (.awaitingReady(let proofs), .ready(let ready)):
            state = .done
            guard proofs.verify(ready.proof.bytes, for: .server), let welcome else {
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
        guard welcome.auth.contains(AuthProof.method) else {
            return fail(.authFailed, "server offers no authentication method this client knows")
        }
        let proofs = AuthProof(token: token, clientNonce: nonce, serverNonce: welcome.nonce.bytes, binding: binding)
        self.welcome = welcome
        state = .awaitingReady(proofs)
        return .switchForm(then: .auth(.init(method: AuthProof.method, proof: .init(proofs.proof(for: .client)))))
    }

    private mutating func fail(_ code: ProtocolError.Code, _ message: String) -> Action {
        state = .done
        return .fail(ProtocolError(code, message))
    }
}
