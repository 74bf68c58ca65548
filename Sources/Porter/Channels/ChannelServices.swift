import NIOCore
import PorterProtocol

/// Answers a client's opens: the service of each channel type sets up the channel's child pipeline and decides
/// to accept or refuse (docs/PROTOCOL.md section 5.4).
/// A service this server does not know is refused `unknown-service`.
struct ChannelServices: Sendable {
    /// The server's services and settings.
    let connection: ServerConnection
    /// Uploads of this connection that hold the large window (`maxWindow`); at most
    /// ``FileConfiguration/maxLargeWindows``.
    let largeWindows: NIOLoopBoundBox<Int>
    /// What the connection's key may do and where, once it authenticated with a key; `nil` for the token, which
    /// may do everything the server serves.
    private(set) var scope: KeyScope?
    /// The connection's part of the server's audit trail, if the server keeps one.
    private(set) var audit: ConnectionAudit?

    /// The file service, confined to the key's `porter-root` if it has one.
    var files: FileService { scope?.files ?? connection.files }
    /// The exec service, confined to the key's `porter-root` and running its `command=` if it has them.
    var exec: ExecService { scope?.exec ?? connection.exec }

    /// The services of one connection from `peer`, on `eventLoop`.
    init(connection: ServerConnection, eventLoop: any EventLoop, peer: SocketAddress? = nil) {
        self.connection = connection
        self.largeWindows = NIOLoopBoundBox(0, eventLoop: eventLoop)
        self.audit = connection.audit?.connection(peer: peer)
    }

    /// These services for a connection authenticated as `principal`.
    func authenticated(as principal: Principal) -> ChannelServices {
        var services = self
        services.audit = audit?.authenticated(as: principal)
        if case .key(let entry, let fingerprint) = principal {
            services.scope = KeyScope(
                entry: entry, fingerprint: fingerprint, files: connection.files, exec: connection.exec)
        }
        return services
    }

    /// The connection opened its first channel (`busy`), or closed its last: what its channels held is free.
    func connection(busy: Bool) {
        connection.exec.activity.channelConnection(busy: busy)
        if !busy { memoryFreed() }
    }

    /// Something the connection held has ended (its handshake, its last channel, the connection itself): what it
    /// held is free.
    func memoryFreed() {
        connection.memory.freed()
    }

    /// Sets up `child` for `open` and decides: the `accept` to send, or a ``ProtocolError`` to refuse with.
    /// `limits` are those announced in `welcome`, `client` those the client announced in `hello`; what the
    /// connection's key does not permit is refused `not-permitted`.
    func open(
        _ open: ChannelMessage.Open, on child: PorterChildChannel, limits: ChannelLimits?, client: FrameLimits?
    ) -> EventLoopFuture<ChannelMessage.Accept> {
        if let refusal = scope?.refusal(toOpen: open.parameters) {
            return child.eventLoop.makeFailedFuture(refusal)
        }
        let limits = limits ?? ChannelLimits()
        switch open.parameters {
        case .echo:
            return child.eventLoop.makeCompletedFuture {
                try Self.start(EchoHandler(), on: child) {}
                return ChannelMessage.Accept(window: limits.initialWindow, details: .echo)
            }
        case .exec(let request):
            return startCommand(request, on: child, limits: limits)
        case .fileGet(let request):
            return sendFile(request, on: child)
        case .filePut(let request):
            return receiveFile(request, on: child, limits: limits)
        case .fileList(let request):
            return sendListing(request, on: child, maxPayload: (client ?? FrameLimits()).maxControlPayload)
        case .forward(let request):
            return startForward(request, on: child, limits: limits)
        case .chat(let join):
            let (chat, logger) = (connection.chat, connection.logger)
            return child.eventLoop.makeCompletedFuture {
                let joined = try ChatBridge.join(join, chat: chat, logger: logger, on: child)
                return ChannelMessage.Accept(window: 0, details: .chat(joined))
            }
        default:
            let name = open.parameters.serviceName
            return child.eventLoop.makeFailedFuture(
                ProtocolError(
                    .unknownService,
                    "this server does not serve '\(name)' channels"))
        }
    }

    /// Forward: connects to the target (after the configuration's checks) and glues the two together; the target's
    /// connection is registered with the server's activity until both are closed.
    private func startForward(
        _ request: ChannelMessage.Forward, on child: PorterChildChannel, limits: ChannelLimits
    ) -> EventLoopFuture<ChannelMessage.Accept> {
        let (forward, logger) = (connection.forward, connection.logger)
        return forward.connect(request, on: child.eventLoop).flatMapThrowing { socket in
            let origin = request.originHost.map { ForwardRule.address($0, request.originPort ?? 0) } ?? "?"
            let target = TerminalText.escaped(ForwardRule.address(request.host, request.port))
            let registered = forward.activity.forwardStarted(target: target, origin: origin)
            do {
                try ForwardGlue.join(
                    channel: child, socket: socket, role: .server, moved: registered.progress
                ) { report in
                    registered.ended()
                    logger.info(
                        "forward ended",
                        metadata: [
                            "forward.target": "\(target)", "forward.origin": "\(origin)",
                            "forward.to_target": "\(report.toSocket)", "forward.from_target": "\(report.toChannel)",
                            "forward.failure": "\(report.failure ?? "none")",
                        ])
                }
            } catch {
                registered.ended()
                socket.close(promise: nil)
                throw error
            }
            return ChannelMessage.Accept(window: limits.initialWindow, details: .forward)
        }
    }

    /// Exec: starts the command (policies, then the spawn on the event loop) and glues its pipes to `child`. A
    /// program that cannot be started is still accepted, with pid 0: its channel carries the reason on standard
    /// error and status 127 or 126.
    private func startCommand(_ request: ControlMessage.Exec, on child: PorterChildChannel, limits: ChannelLimits)
        -> EventLoopFuture<ChannelMessage.Accept>
    {
        exec.start(request, on: child.eventLoop, logger: connection.logger).flatMapThrowing { started in
            switch started {
            case .started(let command):
                try CommandGlue.attach(command, to: child)
                let window = command.input == nil ? 0 : limits.initialWindow
                return ChannelMessage.Accept(window: window, details: .exec(pid: Int(command.pid)))
            case .couldNotStart(let message, let status):
                let exit = CommandExit(status: .exited(status), timedOut: false, duration: 0)
                try child.pipeline.syncOperations.addHandler(
                    CommandNotStartedHandler(message: ByteBuffer(string: message), exit: exit.report))
                return ChannelMessage.Accept(window: 0, details: .exec(pid: 0))
            }
        }
    }
}
