import NIOCore
import PorterProtocol

/// An authenticated connection to a Porter server, made by ``PorterClient/withConnection(to:configuration:group:_:)``.
///
/// Requests run one after another: start one, finish it, start the next.
public final class ClientConnection {
    /// The endpoint connected to.
    public let endpoint: Endpoint
    /// What the server said about itself in the handshake.
    public let welcome: ControlMessage.Welcome
    /// The identity the server presented over TLS; `nil` on a plaintext connection.
    public let fingerprint: Fingerprint?

    let frames: FrameReader
    let writer: FrameWriter
    private var nextPingID: UInt64 = 1

    init(
        endpoint: Endpoint,
        welcome: ControlMessage.Welcome,
        fingerprint: Fingerprint?,
        frames: FrameReader,
        writer: FrameWriter
    ) {
        self.endpoint = endpoint
        self.welcome = welcome
        self.fingerprint = fingerprint
        self.frames = frames
        self.writer = writer
    }

    /// Measures one round trip to the server.
    public func ping() async throws -> Duration {
        let id = nextPingID
        nextPingID += 1
        let clock = ContinuousClock()
        let start = clock.now
        try await writer.send(ControlMessage.ping(.init(id: id)))
        guard case .pong(let pong) = try await frames.nextMessage(), pong.id == id else {
            throw PorterError(.protocolViolation, "the server answered ping with something else")
        }
        return clock.now - start
    }

    /// Starts echo mode: what is sent comes back with ASCII letters upper-cased.
    public func echo() async throws -> EchoSession {
        try await writer.send(ControlMessage.echo)
        return EchoSession(connection: self)
    }

    /// Joins `room` as `name`.
    ///
    /// - Throws: ``PorterError`` of kind ``PorterError/Kind/refused`` if the server refuses (name taken, room
    ///   full, bad name); the connection stays usable.
    public func joinChat(room: String, name: String) async throws -> ChatSession {
        for (value, what) in [(room, "room name"), (name, "name")] {
            if let problem = ChatName.problem(with: value, what: what) {
                throw PorterError(.configuration, problem.message)
            }
        }
        try await writer.send(ControlMessage.chatJoin(.init(room: room, name: name)))
        switch try await frames.nextMessage() {
        case .chatJoined(let joined):
            return ChatSession(connection: self, joined: joined)
        case let other:
            throw PorterError(.protocolViolation, "the server answered chat.join with \(other.type)")
        }
    }
}
