import NIOCore
import PorterProtocol

/// An authenticated connection to a Porter server, made by ``PorterClient/withConnection(to:configuration:group:_:)``.
///
/// On protocol version 1 (``ClientConfiguration/version``) requests run one after another: start one, finish it,
/// start the next. On version 2 each request is a channel of its own, and tasks may share the connection to run
/// several at once (`async let` a command, a download and a chat membership).
public final class ClientConnection: Sendable {
    /// The endpoint connected to.
    public let endpoint: Endpoint
    /// What the server said about itself in the handshake.
    public let welcome: ControlMessage.Welcome
    /// The identity the server presented over TLS; `nil` on a plaintext connection.
    public let fingerprint: Fingerprint?

    private let requests: (frames: FrameReader, writer: FrameWriter)?
    /// Version 2: the channels.
    let channels: ClientChannels?
    private let nextPingID = Locked<UInt64>(1)

    /// A version 1 connection.
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
        self.requests = (frames, writer)
        self.channels = nil
    }

    /// A version 2 connection.
    init(endpoint: Endpoint, welcome: ControlMessage.Welcome, fingerprint: Fingerprint?, channels: ClientChannels) {
        self.endpoint = endpoint
        self.welcome = welcome
        self.fingerprint = fingerprint
        self.requests = nil
        self.channels = channels
    }

    /// The protocol version the connection speaks.
    public var version: Int { welcome.version }

    /// The seconds of grace the server gave when it announced that it is shutting down, or `nil` if it has not
    /// (always `nil` on version 1). Once it has, no new channel opens on this connection: each fails with a
    /// ``PorterError`` of kind ``PorterError/Kind/connection`` and code `shutting-down`. The channels open go on
    /// until they end or the grace period does, when the server closes the connection.
    public var serverShutdownGrace: Double? {
        get async {
            guard let channels else { return nil }
            return try? await channels.channel.eventLoop.submit { channels.multiplexer.value.shutdownGrace }.get()
        }
    }

    /// Version 1: the server's frames.
    var frames: FrameReader {
        guard let requests else { preconditionFailure("a version 1 request on a version 2 connection") }
        return requests.frames
    }

    /// Version 1: the writer of frames to the server.
    var writer: FrameWriter {
        guard let requests else { preconditionFailure("a version 1 request on a version 2 connection") }
        return requests.writer
    }

    /// Measures one round trip to the server.
    public func ping() async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        if let channels {
            try await channels.ping()
            return clock.now - start
        }
        let id = nextPingID.withLock { id in
            defer { id += 1 }
            return id
        }
        try await writer.send(ControlMessage.ping(.init(id: id)))
        guard case .pong(let pong) = try await frames.nextMessage(), pong.id == id else {
            throw PorterError(.protocolViolation, "the server answered ping with something else")
        }
        return clock.now - start
    }

    /// Starts echo mode (on version 2, opens an echo channel): what is sent comes back with ASCII letters
    /// upper-cased.
    public func echo() async throws -> EchoSession {
        if let channels {
            return EchoSession(
                channel: try await channels.open(ChannelMessage.Open.Parameters.echo),
                maxMessage: welcome.limits.maxDataPayload)
        }
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
        if let channels {
            let opened = try await channels.openAccepted(
                .chat(.init(room: room, name: name)), window: 0, maxHeldMessages: ChatSession.maxWaitingEvents)
            guard case .chat(let joined) = opened.accept.details else {
                opened.channel.close()
                throw PorterError(.protocolViolation, "the server accepted a chat channel without its room")
            }
            return ChatSession(channel: opened.channel, joined: joined)
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
