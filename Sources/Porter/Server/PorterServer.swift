import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PorterProtocol
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Porter's native server: listens on every configured endpoint and serves each connection concurrently.
///
/// Run it in a `ServiceGroup` for graceful shutdown: listeners close at once, and connections get
/// ``ServerConfiguration/shutdownGrace`` to finish their channels (see ``run()``). Cancelling ``run()`` closes
/// every connection at once.
///
/// A connection is served by handlers on its event loop (``ChannelMultiplexer`` and its channels' pipelines);
/// only decisions — policy checks, file opens, a forward's connect — leave it.
public final class PorterServer: Service {
    private let configuration: ServerConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onListening: @Sendable ([Endpoint]) async -> Void
    private let onFrontDoors: @Sendable ([BoundFrontDoor]) async -> Void
    private let connection: ServerConnection
    private let admission: Admission
    private let tlsContext: NIOSSLContext?
    private let tlsBinding: [UInt8]
    private let openConnections = OpenConnections()
    private let memory = MemoryReturn()
    /// The socket files of the unix-domain listeners, removed when the server stops if they are still ours.
    private let socketFiles = Locked<[UnixSocketFile]>([])

    /// The chat rooms this server hosts.
    public let chat: ChatService
    /// What the server is doing: commands and transfers in progress, and counters.
    public let activity = ServerActivity()

    /// Creates a server.
    ///
    /// - Throws: ``PorterError`` if the identity cannot be used for TLS.
    /// - Parameters:
    ///   - onListening: called once every listener is bound, with the bound endpoints of the native protocol (a
    ///     requested port 0 is replaced by the real one).
    ///   - onFrontDoors: called next with the other listeners bound: UDP echo, classic listeners.
    public init(
        configuration: ServerConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onListening: @escaping @Sendable ([Endpoint]) async -> Void = { _ in },
        onFrontDoors: @escaping @Sendable ([BoundFrontDoor]) async -> Void = { _ in }
    ) throws(PorterError) {
        guard configuration.acceptsToken || configuration.authorizedKeys != nil else {
            throw PorterError(
                .configuration, "with token authentication off, give an authorized keys file, or no client can connect")
        }
        switch configuration.transport {
        case .tls(let identity):
            do {
                self.tlsContext = try TransportSecurity.serverContext(identity: identity)
            } catch {
                throw PorterError(.configuration, "cannot use the server identity for TLS: \(error)")
            }
            self.tlsBinding = ChannelBinding.serverEndPoint(certificateDER: identity.certificateDER)
        case .plaintext:
            self.tlsContext = nil
            self.tlsBinding = []
        }
        self.admission = Admission(
            maxConnections: configuration.maxConnections,
            maxUnauthenticated: configuration.maxUnauthenticated,
            maxUnauthenticatedPerSource: configuration.maxUnauthenticatedPerSource
        )
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.onListening = onListening
        self.onFrontDoors = onFrontDoors
        self.chat = ChatService(configuration: configuration.chat)
        do {
            try configuration.channelLimits.validate()
        } catch {
            throw PorterError(.configuration, "bad channel limits: \(error.message)")
        }
        let limits = ConnectionMessage.Limits(
            frames: configuration.frameLimits, idleTimeout: configuration.idleTimeout,
            channels: configuration.channelLimits)
        let auditLog = try configuration.auditLog.map { path throws(PorterError) in
            try AuditLog(path: path, logger: logger)
        }
        self.auditLog = auditLog
        let recordings = try configuration.recordings.map { path throws(PorterError) in
            try RecordingDirectory(path: path, logger: logger)
        }
        self.connection = ServerConnection(
            identity: .init(agent: PorterVersion.agent, server: configuration.serverName, limits: limits),
            token: configuration.acceptsToken ? configuration.token : nil,
            authorizedKeys: try configuration.authorizedKeys.map { path throws(PorterError) in
                try AuthorizedKeysFile(path: path, logger: logger)
            },
            chat: chat,
            exec: ExecService(configuration: configuration.exec, root: configuration.root, activity: activity),
            files: try FileService(configuration: configuration.files, root: configuration.root, activity: activity),
            forward: ForwardService(configuration: configuration.forward, activity: activity),
            memory: memory,
            audit: AuditTrail(log: auditLog, recordings: recordings),
            logger: logger
        )
    }

    /// The audit log, if the server keeps one.
    public let auditLog: AuditLog?

    /// The number of connections being served now.
    public var connectionCount: Int { admission.openCount }

    /// The number of connections in TLS or authentication now.
    public var unauthenticatedCount: Int { admission.unauthenticatedCount }

    /// The number of connections with a channel open now: the others are idle.
    public var busyConnectionCount: Int { activity.busyChannelConnectionCount }

    /// The number of connections waiting for a handshake slot now.
    public var waitingCount: Int { admission.waitingCount }

    /// Binds every listener, then serves until cancelled or gracefully shut down.
    ///
    /// A graceful shutdown (swift-service-lifecycle's, on the first SIGTERM or SIGINT under `porter serve`) closes
    /// the listeners and tells every connection that the server is shutting down: authenticated connections get
    /// ``ServerConfiguration/shutdownGrace`` seconds to finish the channels they have in use (chat memberships
    /// end at once), and open no new ones; those still in the handshake are closed at once. It returns once every
    /// connection has closed. Cancellation closes every connection at once.
    public func run() async throws {
        let grace = configuration.shutdownGrace
        let openConnections = self.openConnections
        let memory = self.memory
        if let interval = configuration.memoryReturnInterval { memory.start(interval: interval, loop: group.next()) }
        defer {
            memory.stop()
            openConnections.closeAll()
        }
        let socketFiles = self.socketFiles
        defer { for file in socketFiles.withLock({ $0 }) { file.remove() } }
        let listeners = try await bindAll()
        let doors: [any FrontDoor]
        do {
            doors = try await bindFrontDoors()
        } catch {
            for listener in listeners { try? await listener.close() }
            throw error
        }
        let bound = listeners.compactMap { $0.localAddress.flatMap(Endpoint.init) }
        for endpoint in bound { logger.info("listening", metadata: ["server.endpoint": "\(endpoint)"]) }
        for door in doors {
            logger.info("listening", metadata: ["server.door": "\(door.name)", "server.endpoint": "\(door.address)"])
        }
        await onListening(bound)
        await onFrontDoors(doors.map { BoundFrontDoor(name: $0.name, address: $0.address) })

        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                for listener in listeners {
                    group.addTask { try await PipelineListener(name: "porter", channel: listener).serve() }
                }
                for door in doors {
                    group.addTask { try await door.serve() }
                }
                group.addTask {
                    // Ends once every connection has closed after a shutdown: within its grace, or at once when
                    // cancelled.
                    try? await gracefulShutdown()
                    await openConnections.closed()
                }
            }
        } onGracefulShutdown: { [logger] in
            for listener in listeners { listener.close(promise: nil) }
            for door in doors { door.close() }
            logger.info(
                "shutting down",
                metadata: [
                    "server.connections": "\(openConnections.count)",
                    "server.shutdown_grace": "\(TimeLimit.text(seconds: grace))",
                ])
            openConnections.shutDown(grace: TimeLimit.timeAmount(seconds: grace))
        }
    }

    /// Binds every configured endpoint, or none: a failure closes those already bound.
    private func bindAll() async throws -> [any Channel] {
        var listeners: [any Channel] = []
        do {
            for endpoint in configuration.listen {
                let tls = endpoint.isTCP ? tlsContext : nil
                let binding = tls == nil ? [] : tlsBinding
                listeners.append(try await bind(endpoint, tls: tls, binding: binding))
            }
        } catch {
            for listener in listeners { try? await listener.close() }
            throw error
        }
        return listeners
    }

    /// Binds the UDP echo, the HTTP endpoint and the classic listeners that are configured, or none.
    private func bindFrontDoors() async throws -> [any FrontDoor] {
        var doors: [any FrontDoor] = []
        // What is being bound, for the message if it fails: "cannot listen" alone does not say where.
        var binding = ""
        do {
            if let udp = configuration.udp {
                guard case .tcp(let host, let port) = udp else {
                    throw PorterError(.configuration, "--udp needs HOST:PORT, not \(udp)")
                }
                binding = " for --udp on \(udp)"
                doors.append(
                    try await PipelineListener.bindUDPEcho(
                        name: "udp echo", host: host, port: port, headers: true, group: group))
            }
            if let http = configuration.http {
                guard case .tcp(let host, let port) = http.listen else {
                    throw PorterError(.configuration, "--http needs HOST:PORT, not \(http.listen)")
                }
                if !http.listen.isLoopback {
                    logger.warning(
                        "the HTTP endpoint on \(http.listen) has no authentication: whoever can reach it sees running commands, transfers and chat members"
                    )
                }
                binding = " for --http on \(http.listen)"
                let activity = self.activity
                let source = StatusHTTPHandler.Source(
                    status: { [self] in status() }, metrics: { [self] in activity.metrics(status()) },
                    requests: { activity.httpRequests.increment() })
                doors.append(
                    try await PipelineListener.bind(
                        name: "http", host: host, port: port, limits: http.limits, group: group
                    ) { channel in try StatusHTTPHandler.setUp(channel, configuration: http, source: source) })
            }
            if let classic = configuration.classic {
                let ports = [
                    classic.echoPort, classic.execPort, classic.ftpPort, classic.udpPort, classic.httpPort,
                    classic.chatPort,
                ]
                binding = " for --classic on \(classic.host), ports \(ports.map(String.init).joined(separator: ", "))"
                doors += try await ClassicServices.bind(
                    classic, exec: connection.exec, files: connection.files, chat: chat, group: group, logger: logger)
            }
        } catch let error as PorterError {
            for door in doors { door.close() }
            throw error
        } catch {
            for door in doors { door.close() }
            let inUse = (error as? IOError)?.errnoCode == EADDRINUSE
            throw PorterError(
                .configuration,
                "cannot listen\(binding): \(Self.describe(error))\(inUse ? "; choose another port, or stop what uses it" : "")"
            )
        }
        return doors
    }

    /// Binds `endpoint`; each connection's proof must include `binding` (see ``ChannelBinding``).
    private func bind(_ endpoint: Endpoint, tls: NIOSSLContext?, binding: [UInt8]) async throws -> any Channel {
        let limits = configuration.frameLimits
        let authTimeout = TimeLimit.timeAmount(seconds: configuration.authTimeout)
        let timeouts = ConnectionStateMachine.Timeouts(
            authentication: authTimeout,
            idle: configuration.idleTimeout > 0 ? TimeLimit.timeAmount(seconds: configuration.idleTimeout) : nil)
        let admission = self.admission
        let logger = self.logger
        let connection = self.connection
        let activity = self.activity
        let openConnections = self.openConnections
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if channel.localAddress?.protocol != .unix {
                        // Request and answer are each one write: without this, Nagle's algorithm and delayed
                        // ACKs can add 40 ms to a round trip.
                        try channel.syncOptions?.setOption(.tcpOption(.tcp_nodelay), value: 1)
                    }
                    try channel.allowLargeReads()
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(
                        ConnectionGate(
                            expectsTLS: tls != nil, admission: admission, waitLimit: authTimeout, logger: logger))
                    if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
                    try pipeline.addFrameCodec(limits: limits)
                    try pipeline.addHandler(
                        ChannelMultiplexer(
                            server: ConnectionStateMachine(
                                server: ServerHandshake(
                                    identity: connection.identity,
                                    credentials: connection.credentials(peer: channel.remoteAddress),
                                    nonce: Randomness.bytes(ControlMessage.nonceLength), binding: binding),
                                timeouts: timeouts),
                            services: ChannelServices(
                                connection: connection, eventLoop: channel.eventLoop, peer: channel.remoteAddress),
                            logger: logger))
                    activity.connectionsAccepted.increment()
                    openConnections.add(channel)
                }
            }
        do {
            switch endpoint {
            case .tcp(let host, let port):
                return try await bootstrap.bind(host: host, port: port).get()
            case .unix(let path):
                let (descriptor, file) = try UnixSocketFile.bind(path)
                socketFiles.withLock { $0.append(file) }
                let listener: any Channel
                do {
                    listener = try await bootstrap.withBoundSocket(descriptor).get()
                } catch {
                    close(descriptor)
                    throw error
                }
                // NIO listens on a bound socket with its default backlog: raise it to the configured one.
                listen(descriptor, configuration.backlog)
                return listener
            }
        } catch let error as PorterError {
            throw error
        } catch {
            throw PorterError(.configuration, "cannot listen on \(endpoint): \(Self.describe(error))")
        }
    }

    /// What the server is doing now, for the status page.
    func status() -> ServerStatus {
        let now = Date()
        return ServerStatus(
            version: PorterVersion.current, server: configuration.serverName,
            uptimeSeconds: now.timeIntervalSince(activity.started), connections: connectionCount,
            unauthenticated: unauthenticatedCount, busy: busyConnectionCount, commands: activity.commands,
            transfers: activity.transfers.map { transfer in
                let seconds = max(now.timeIntervalSince(transfer.started), 0.001)
                return .init(
                    path: transfer.path, direction: transfer.direction, bytes: transfer.bytes, size: transfer.size,
                    bytesPerSecond: Double(transfer.bytes) / seconds)
            },
            rooms: chat.snapshot().map { .init(room: $0.room, members: $0.members) },
            forwards: activity.forwards.map { forward in
                .init(
                    target: forward.target, origin: forward.origin, toTarget: forward.toTarget,
                    fromTarget: forward.fromTarget)
            })
    }

    private static func describe(_ error: any Error) -> String {
        ErrorText.describe(error)
    }
}
