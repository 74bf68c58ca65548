import NIOCore
import NIOPosix
import PorterProtocol

/// One `-L` of `porter forward`: a local address to listen on, and the target the server connects each accepted
/// connection to, as `ssh -L` does (docs/PROTOCOL.md section 5.4.7).
public struct ForwardRule: Sendable, Hashable, CustomStringConvertible {
    /// The address to listen on: `127.0.0.1` unless named.
    public var bindHost: String
    /// The port to listen on; 0 for any free port.
    public var bindPort: Int
    /// The target, as the server names and reaches it.
    public var host: String
    /// The target's port.
    public var port: Int

    /// Creates a rule; the ranges are checked by ``ClientConnection/forward(_:events:)``.
    public init(bindHost: String = "127.0.0.1", bindPort: Int, host: String, port: Int) {
        self.bindHost = bindHost
        self.bindPort = bindPort
        self.host = host
        self.port = port
    }

    /// Reads `[BIND_HOST:]PORT:HOST:HOSTPORT`, an IPv6 address in brackets (`[::1]:8080:[::1]:80`).
    ///
    /// - Throws: ``PorterError`` of kind ``PorterError/Kind/configuration`` naming what is wrong.
    public init(parsing text: String) throws(PorterError) {
        var parts: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else {
                    throw Self.bad(text, "'[' without ']'")
                }
                parts.append(String(rest[rest.index(after: rest.startIndex)..<close]))
                rest = rest[rest.index(after: close)...]
                guard rest.isEmpty || rest.hasPrefix(":") else { throw Self.bad(text, "':' expected after ']'") }
                rest = rest.dropFirst()
            } else {
                let end = rest.firstIndex(of: ":") ?? rest.endIndex
                parts.append(String(rest[..<end]))
                rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
            }
        }
        if text.hasSuffix(":") { parts.append("") }
        guard parts.count == 3 || parts.count == 4 else {
            throw Self.bad(text, "expected [BIND_HOST:]PORT:HOST:HOSTPORT")
        }
        if parts.count == 3 { parts.insert("127.0.0.1", at: 0) }
        guard let bindPort = Int(parts[1]), (0...65_535).contains(bindPort) else {
            throw Self.bad(text, "the local port must be 0 to 65535")
        }
        guard let port = Int(parts[3]), (1...65_535).contains(port) else {
            throw Self.bad(text, "the target's port must be 1 to 65535")
        }
        for host in [parts[0], parts[2]] {
            guard ForwardTarget.isValidHost(host) else {
                throw Self.bad(
                    text,
                    "a host must be 1 to \(MessageRanges.maxHostLength) bytes, without spaces or control characters")
            }
        }
        self.init(bindHost: parts[0], bindPort: bindPort, host: parts[2], port: port)
    }

    private static func bad(_ text: String, _ reason: String) -> PorterError {
        PorterError(.configuration, "-L '\(TerminalText.escaped(text))': \(reason)")
    }

    /// `BIND_HOST:PORT:HOST:HOSTPORT`, IPv6 addresses in brackets.
    public var description: String {
        "\(Self.bracketed(bindHost)):\(bindPort):\(Self.bracketed(host)):\(port)"
    }

    /// `BIND_HOST:PORT`, an IPv6 address in brackets.
    public var listenAddress: String { Self.address(bindHost, bindPort) }

    /// `HOST:HOSTPORT`, an IPv6 address in brackets.
    public var targetAddress: String { Self.address(host, port) }

    /// `host:port`, an IPv6 address in brackets.
    static func address(_ host: String, _ port: Int) -> String { "\(bracketed(host)):\(port)" }

    private static func bracketed(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}

/// What ``ClientConnection/forward(_:events:)`` reports, on the connection's event loop.
public enum ForwardEvent: Sendable {
    /// A rule's listener is bound; `address` is `BIND_HOST:PORT` with the port bound.
    case listening(ForwardRule, address: String)
    /// A local connection from `origin` was accepted by the server: the target is connected.
    case opened(ForwardRule, origin: String)
    /// The server refused a local connection from `origin`, which is closed; the listener goes on.
    case refused(ForwardRule, origin: String, message: String)
    /// A forwarded connection ended: the bytes sent to the target and received from it, and why it ended early,
    /// if it did.
    case closed(ForwardRule, origin: String, sent: Int, received: Int, failure: String?)
    /// The server is shutting down: the listeners are closed, and the forwarded connections open have `grace`
    /// seconds before the server closes the connection.
    case serverShuttingDown(grace: Double)
}

extension ClientConnection {
    /// The window a forward channel grants the server: bytes from the target that may be on their way to the
    /// local connection before it has taken them.
    public static let forwardWindow = 1 << 20

    /// Listens on every rule's address and carries each connection accepted there over this connection to the
    /// rule's target, each on a channel of its own, until the calling task is cancelled (then it returns) or the
    /// connection ends (then it throws). While the server's `maxChannels` are in use the listeners accept nothing.
    /// When the server announces that it is shutting down, the listeners close
    /// (``ForwardEvent/serverShuttingDown(grace:)``) and the forwarded connections go on until the server closes
    /// the connection.
    ///
    /// - Throws: ``PorterError`` of kind ``PorterError/Kind/configuration`` for a rule out of range, of kind
    ///   ``PorterError/Kind/connection`` if a listener cannot bind (none is left bound) or the connection ends.
    public func forward(_ rules: [ForwardRule], events: @escaping @Sendable (ForwardEvent) -> Void) async throws {
        let channels = self.channels
        for rule in rules {
            let open = ChannelMessage.open(
                .init(window: Self.forwardWindow, parameters: .forward(.init(host: rule.host, port: rule.port))))
            do {
                try open.validate()
            } catch {
                throw PorterError(.configuration, "-L \(rule): \(error.message)")
            }
            guard (0...65_535).contains(rule.bindPort) else {
                throw PorterError(.configuration, "-L \(rule): the local port must be 0 to 65535")
            }
        }
        let eventLoop = channels.channel.eventLoop
        let forwarder = try await eventLoop.submit {
            let maxChannels = channels.multiplexer.value.machine.maxChannels ?? ChannelLimits.defaultMaxChannels
            return Forwarder(channels: channels, maxChannels: maxChannels, events: events)
        }.get()
        var listeners: [any Channel] = []
        do {
            for rule in rules {
                let listener = try await forwarder.listen(rule, on: eventLoop)
                listeners.append(listener)
            }
        } catch {
            for listener in listeners { listener.close(promise: nil) }
            throw error
        }
        for (rule, listener) in zip(rules, listeners) {
            let port = listener.localAddress?.port ?? rule.bindPort
            events(.listening(rule, address: ForwardRule.address(rule.bindHost, port)))
        }
        // Every listener is announced before any of them takes a connection.
        try await eventLoop.submit {
            forwarder.startAccepting()
            channels.multiplexer.value.whenShutdownAnnounced { grace in forwarder.shutdownAnnounced(grace: grace) }
        }.get()
        let stop = eventLoop.makePromise(of: Void.self)
        channels.channel.closeFuture.whenComplete { _ in
            let reason = channels.multiplexer.value.endReason.map(ClientChannels.porterError)
            stop.fail(reason ?? PorterError(.connection, "the connection to the server was lost"))
        }
        defer { for listener in listeners { listener.close(promise: nil) } }
        try await withTaskCancellationHandler {
            try await stop.futureResult.get()
        } onCancel: {
            stop.succeed()
        }
    }
}

/// The listeners of ``ClientConnection/forward(_:events:)`` and the connections they accepted; on the connection's
/// event loop only.
private final class Forwarder: @unchecked Sendable {
    private let channels: ClientChannels
    private let maxChannels: Int
    private let events: @Sendable (ForwardEvent) -> Void
    private var listeners: [any Channel] = []
    /// Forwarded connections open or waiting for the server's answer.
    private var active = 0
    /// Whether the listeners take connections: from ``startAccepting()`` on, while fewer than `maxChannels` are
    /// open.
    private var started = false
    private var accepting: Bool { started && active < maxChannels }

    init(channels: ClientChannels, maxChannels: Int, events: @escaping @Sendable (ForwardEvent) -> Void) {
        self.channels = channels
        self.maxChannels = maxChannels
        self.events = events
    }

    /// Binds `rule`'s listener on `eventLoop`, the connection's.
    func listen(_ rule: ForwardRule, on eventLoop: any EventLoop) async throws -> any Channel {
        let bootstrap = ServerBootstrap(group: eventLoop)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelInitializer { [self] socket in
                socket.eventLoop.makeCompletedFuture {
                    var bound = rule
                    bound.bindPort = socket.localAddress?.port ?? rule.bindPort
                    self.accepted(socket, rule: bound)
                }
            }
        let listener: any Channel
        do {
            listener = try await bootstrap.bind(host: rule.bindHost, port: rule.bindPort).get()
        } catch {
            throw PorterError(
                .connection,
                "cannot listen on \(ForwardRule.address(rule.bindHost, rule.bindPort)) for -L \(rule): \(ForwardService.describe(error, timeout: 0))"
            )
        }
        try await eventLoop.submit { self.listeners.append(listener) }.get()
        return listener
    }

    /// A local connection: opens its channel, and joins the two once the server has connected to the target.
    /// `rule` names the port bound.
    private func accepted(_ socket: any Channel, rule: ForwardRule) {
        let remote = socket.remoteAddress
        let origin = ForwardRule.address(remote?.ipAddress ?? "?", remote?.port ?? 0)
        let request = ChannelMessage.Forward(
            host: rule.host, port: rule.port, originHost: remote?.ipAddress, originPort: remote?.port)
        let events = self.events
        let accepted = NIOLoopBoundBox(false, eventLoop: socket.eventLoop)
        // Counted off once, however the forward ends: refused, or its glue closed.
        let counted = NIOLoopBoundBox(true, eventLoop: socket.eventLoop)
        let end = { [self] in
            guard counted.value else { return }
            counted.value = false
            changeActive(by: -1)
        }
        // The socket's half first: what the peer sends while the open waits for a free channel is kept.
        let pending: ForwardGlue.Pending
        do {
            pending = try ForwardGlue.prepare(
                socket: socket, role: .client,
                ended: { report in
                    end()
                    guard accepted.value else { return }
                    events(
                        .closed(
                            rule, origin: origin, sent: report.toChannel, received: report.toSocket,
                            failure: report.failure))
                })
        } catch {
            socket.close(promise: nil)
            return
        }
        changeActive(by: 1)
        let opened = channels.multiplexer.value.open(.forward(request), window: ClientConnection.forwardWindow) {
            child in try ForwardGlue.attach(pending, to: child)
        }
        opened.assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                // A forward that has already ended (its socket reset first) reports nothing.
                guard counted.value else { return }
                accepted.value = true
                events(.opened(rule, origin: origin))
            case .failure(let error):
                pending.abandon()
                socket.close(promise: nil)
                end()
                events(.refused(rule, origin: origin, message: ClientChannels.porterError(error).message))
            }
        }
    }

    /// The server is shutting down: the listeners close, and the forwarded connections open go on.
    func shutdownAnnounced(grace: Double) {
        for listener in listeners { listener.close(promise: nil) }
        listeners = []
        events(.serverShuttingDown(grace: grace))
    }

    /// The listeners may take connections now.
    func startAccepting() {
        started = true
        applyAccepting()
    }

    /// Stops the listeners from accepting while `maxChannels` forwards are open, and starts them again once fewer
    /// are.
    private func changeActive(by change: Int) {
        let before = accepting
        active += change
        if accepting != before { applyAccepting() }
    }

    private func applyAccepting() {
        for listener in listeners {
            try? listener.syncOptions?.setOption(ChannelOptions.autoRead, value: accepting)
        }
    }
}
