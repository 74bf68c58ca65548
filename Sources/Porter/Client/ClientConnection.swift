import NIOCore
import PorterProtocol

/// An authenticated connection to a Porter server, made by ``PorterClient/withConnection(to:configuration:group:_:)``.
///
/// Each operation is a channel of its own, and tasks may share the connection to run several at once (`async let`
/// a command, a download and a chat membership).
public final class ClientConnection: Sendable {
    /// The endpoint connected to.
    public let endpoint: Endpoint
    /// What the server said about itself in the handshake.
    public let welcome: ConnectionMessage.Welcome
    /// The identity the server presented over TLS; `nil` on a plaintext connection.
    public let fingerprint: Fingerprint?
    /// The key the server accepted; `nil` when the connection authenticated with the token.
    public let key: SSHPublicKey?

    /// The channels.
    let channels: ClientChannels

    /// An executor that runs tasks on the connection's event loop, the thread that does its I/O.
    ///
    /// By default a task's awaits on the connection resume on the global executor's threads: every message the
    /// server sends wakes one, and every write hops to the event loop. A task that runs many small operations one
    /// after another (commands, echo round trips) does neither if it prefers this executor:
    ///
    /// ```swift
    /// try await withTaskExecutorPreference(connection.taskExecutor) {
    ///     for argv in commands { _ = try await connection.run(argv) }
    /// }
    /// ```
    ///
    /// Such a task shares the thread with the connection's I/O (and, with the default event loop group, with the
    /// other connections on that loop): it must not block, nor compute for long between awaits, or it holds their
    /// I/O back. Child tasks inherit the preference. Use it only while the connection's event loop group runs.
    public var taskExecutor: any TaskExecutor { executor }
    private let executor: EventLoopTaskExecutor

    init(
        endpoint: Endpoint, welcome: ConnectionMessage.Welcome, fingerprint: Fingerprint?, key: SSHPublicKey?,
        channels: ClientChannels
    ) {
        self.endpoint = endpoint
        self.welcome = welcome
        self.fingerprint = fingerprint
        self.key = key
        self.channels = channels
        self.executor = EventLoopTaskExecutor(eventLoop: channels.channel.eventLoop)
    }

    /// The protocol version the connection speaks.
    public var version: Int { welcome.version }

    /// The seconds of grace the server gave when it announced that it is shutting down, or `nil` if it has not.
    /// Once it has, no new channel opens on this connection: each fails with a ``PorterError`` of kind
    /// ``PorterError/Kind/connection`` and code `shutting-down`. The channels open go on until they end or the
    /// grace period does, when the server closes the connection; a chat membership ends at once
    /// (``ChatSession/nextEvent()`` throws `shutting-down`).
    public var serverShutdownGrace: Double? {
        get async {
            let channels = self.channels
            return try? await channels.channel.eventLoop.submit { channels.multiplexer.value.shutdownGrace }.get()
        }
    }

    /// Measures one round trip to the server.
    public func ping() async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        try await channels.ping()
        return clock.now - start
    }

    /// Opens an echo channel: what is sent comes back with ASCII letters upper-cased.
    public func echo() async throws -> EchoSession {
        EchoSession(
            channel: try await channels.open(ChannelMessage.Open.Parameters.echo),
            maxMessage: welcome.limits.frames.maxDataPayload)
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
        let opened = try await channels.openAccepted(
            .chat(.init(room: room, name: name)), window: 0, maxHeldMessages: ChatSession.maxWaitingEvents)
        guard case .chat(let joined) = opened.accept.details else {
            opened.channel.close()
            throw PorterError(.protocolViolation, "the server accepted a chat channel without its room")
        }
        return ChatSession(channel: opened.channel, joined: joined)
    }
}
