import NIOCore

/// The rules of one connection as a pure state machine: inputs in, ``Action``s out, no I/O.
///
/// It owns the connection layer (docs/PROTOCOL.md section 4): the handshake (through ``ServerHandshake`` or
/// ``ClientHandshake``), the authentication deadline, the idle timeout, `keepalive` and `ping`, global requests,
/// shutting down and fatal errors; and the channels (section 5) through its ``ChannelTable``.
///
/// ```
///  inactive ──activated──▶ handshaking ──auth (proof valid)──▶ ready
///                              │                                │
///                              └── bad message, deadline ───────┴── idle timeout ──▶ closed (fail)
/// ```
///
/// Time is injected: every input carries `now`, and the machine asks for the one timer it needs with
/// ``Action/scheduleTimer(at:)`` (which replaces any timer asked for before) and ``Action/cancelTimer``. A timer
/// may fire early or late: ``deadlineReached(now:)`` checks the deadlines against `now` and asks again if none
/// has passed. So a frame, which pushes the idle deadline forward, never needs a new timer.
///
/// After `welcome` it asks for the channel form (``Action/switchForm``); after `ready` it answers `keepalive`, `ping` and global requests on
/// channel 0 itself and runs every frame on another channel through its ``ChannelTable``, handing on what the
/// channel's local code must see as ``Action/channel(_:_:)``.
///
/// A client's machine (``init(client:timeouts:)``) sends `hello` at activation, runs
/// ``ClientHandshake`` under the handshake deadline (`timeouts.authentication`), and once authenticated sends a
/// `keepalive` every third of the server's idle timeout; it opens channels with ``open(_:)``.
public struct ConnectionStateMachine: Sendable {
    private enum State {
        case inactive
        case handshaking(authDeadline: NIODeadline)
        case ready
        case closed
    }

    /// This end's handshake. Indirect, so the machine holds a pointer to it rather than the handshake itself; a
    /// server's is dropped once the client is authenticated (an idle connection keeps none of it), a client's is
    /// kept, since it holds the server's `welcome`.
    private indirect enum Handshake: Sendable {
        case server(ServerHandshake)
        case client(ClientHandshake)
    }

    private var state = State.inactive
    private var handshake: Handshake?
    /// Which end of the connection this machine runs.
    public let role: ChannelStateMachine.Role
    private let timeouts: Timeouts
    /// The version negotiated, once authenticated.
    private var negotiated: Int?
    /// Client: how often a keepalive is sent, and when the next is due, once authenticated.
    private var keepaliveInterval: TimeAmount?
    private var nextKeepalive: NIODeadline?
    /// When the last complete frame arrived from the client (activation, before the first).
    private var lastFrame = NIODeadline.uptimeNanoseconds(0)
    /// The timer the driver holds for the machine, if any.
    private var timer: NIODeadline?
    /// The limits announced in `welcome`, from `hello` on.
    var announced: ConnectionMessage.Limits?
    /// The channels, from `ready` on.
    var channels: ChannelTable?

    /// The channels the client may have in use at once, from `ready` on.
    public var maxChannels: Int? { channels?.maxChannels }
    /// Server: global requests delivered and not yet answered.
    var unansweredGlobals = 0
    /// Client: the ids of the global requests sent and not yet answered, in order: a few at most, and an empty
    /// array (a server's always is) takes no memory of its own.
    var sentGlobals: [UInt64] = []
    /// Server: the grace period of a shutdown, once `shutdown` is sent.
    private var shutdownGrace: TimeAmount?
    /// Server: when that grace period ends.
    private var graceDeadline: NIODeadline?
    /// Client: whether the server announced `shutdown`.
    public internal(set) var shutdownAnnounced = false

    /// A server's connection, authenticated by `handshake`.
    public init(server handshake: ServerHandshake, timeouts: Timeouts) {
        self.handshake = .server(handshake)
        self.role = .server
        self.timeouts = timeouts
    }

    /// A client's connection, authenticated by `handshake` within `timeouts.authentication` from
    /// activation; `timeouts.idle` must be `nil` (the client keeps the connection up with keepalives instead).
    public init(client handshake: ClientHandshake, timeouts: Timeouts) {
        precondition(timeouts.idle == nil, "a client closes no idle connection")
        self.handshake = .client(handshake)
        self.role = .client
        self.timeouts = timeouts
    }

    /// Client: the server's `welcome`, once authenticated.
    public var welcome: ConnectionMessage.Welcome? {
        guard negotiated != nil, case .client(let handshake)? = handshake else { return nil }
        return handshake.welcome
    }

    /// Client: the key the server accepted, once authenticated with one; `nil` for the token.
    public var acceptedKey: SSHPublicKey? {
        guard negotiated != nil, case .client(let handshake)? = handshake else { return nil }
        return handshake.acceptedKey
    }

    /// Client: the server's limits, once `welcome` has arrived.
    public var serverLimits: ConnectionMessage.Limits? { role == .client ? announced : nil }

    /// Server: who the client authenticated as, once it has.
    public private(set) var principal: Principal?

    /// Server: the frame limits the client announced in `hello` (the defaults if it announced none), once
    /// authenticated.
    public private(set) var clientFrameLimits: FrameLimits?

    /// Client: the binding of the secure channel, needed before `welcome` arrives (see
    /// ``ClientHandshake/binding``).
    public mutating func setBinding(_ binding: [UInt8]) {
        guard case .client(var client)? = handshake else { return }
        client.binding = binding
        handshake = .client(client)
    }
    /// Whether `ready` has been sent and the connection is not closed.
    public var isReady: Bool {
        if case .ready = state { return true }
        return false
    }

    /// The protocol version negotiated, once authenticated.
    public var version: Int? { negotiated }

    /// Whether the machine has failed or been told the connection closed: it reads nothing more.
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The connection is up (for TLS, when the TCP connection is: the deadline covers the TLS handshake).
    public mutating func activated(now: NIODeadline) -> Actions {
        var actions = Actions()
        let wasInactive = if case .inactive = state { true } else { false }
        activate(now: now)
        if wasInactive, case .client(var client)? = handshake {
            actions.append(.write(client.start()))
            handshake = .client(client)
        }
        settleTimer(&actions)
        return actions
    }

    /// A complete frame from the client.
    public mutating func received(_ frame: Frame, now: NIODeadline) -> Actions {
        var actions = Actions()
        if case .inactive = state { activate(now: now) }
        switch state {
        case .inactive, .closed:
            return actions
        case .handshaking:
            lastFrame = now
            receiveInHandshake(frame, &actions)
        case .ready:
            lastFrame = now
            receiveOnChannels(frame, &actions)
        }
        settleTimer(&actions)
        return actions
    }

    /// The timer the machine asked for fired (possibly early or late).
    public mutating func deadlineReached(now: NIODeadline) -> Actions {
        var actions = Actions()
        timer = nil
        if let error = expired(now: now) {
            state = .closed
            actions.append(.fail(error))
        } else if let due = nextKeepalive, due <= now, let interval = keepaliveInterval {
            actions.append(.send(ConnectionMessage.keepalive.frame))
            nextKeepalive = now + interval
        }
        settleTimer(&actions)
        return actions
    }

    /// The connection closed: the machine reads nothing more and needs no timer.
    public mutating func closed() {
        state = .closed
        timer = nil
        nextKeepalive = nil
    }

    /// Server: the server is shutting down (docs/PROTOCOL.md section 4.5).
    ///
    /// A connection not yet authenticated fails `shutting-down` at once; so does every
    /// connection when `grace` is zero. An authenticated connection is sent `shutdown {grace}`. From then
    /// on every `open` is refused `shutting-down` (global requests are the driver's to fail, in their turn: see
    /// ``isShuttingDown``), and the connection fails `shutting-down` as soon as it has no channel in use, and at
    /// the latest when `grace` has passed. A second call ends the grace period at once.
    public mutating func shutDown(grace: TimeAmount, now: NIODeadline) -> Actions {
        var actions = Actions()
        guard role == .server, !isClosed else { return actions }
        guard isReady, var table = channels, shutdownGrace == nil, grace > .zero else {
            fail(ProtocolError(.shuttingDown, "the server is shutting down"), &actions)
            settleTimer(&actions)
            return actions
        }
        shutdownGrace = grace
        graceDeadline = now + grace
        table.refusingOpens = ProtocolError(.shuttingDown, "the server is shutting down and opens no new channels")
        channels = table
        actions.append(.send(ConnectionMessage.shutdown(.init(grace: Double(grace.nanoseconds) / 1e9)).frame))
        closeIfDrained(&actions)
        settleTimer(&actions)
        return actions
    }

    /// Server: whether `shutdown` has been sent and the connection is still open; global requests then fail with
    /// `shutting-down`.
    public var isShuttingDown: Bool { isReady && shutdownGrace != nil }

    /// Server, shutting down: fails the connection if no channel is in use.
    mutating func closeIfDrained(_ actions: inout Actions) {
        guard isShuttingDown, channelCount == 0 else { return }
        fail(
            ProtocolError(.shuttingDown, "the server is shutting down, and this connection has no channel in use"),
            &actions)
    }

    private mutating func activate(now: NIODeadline) {
        guard case .inactive = state else { return }
        state = .handshaking(authDeadline: now + timeouts.authentication)
        lastFrame = now
    }

    private mutating func receiveInHandshake(_ frame: Frame, _ actions: inout Actions) {
        guard case .server(var server)? = handshake else {
            receiveInClientHandshake(frame, &actions)
            return
        }
        if announced != nil, frame.channel != 0 {
            fail(
                ProtocolError(.unexpectedMessage, "a frame on channel \(frame.channel) before authentication"), &actions
            )
            return
        }
        let action: ServerHandshake.Action
        do {
            action = server.receive(try ConnectionMessage(frame: frame))
        } catch {
            fail(error, &actions)
            return
        }
        handshake = .server(server)
        if let attempt = server.lastAttempt { actions.append(.authAttempt(attempt)) }
        switch action {
        case .welcome(let welcome):
            announced = welcome.limits
            actions.append(.send(ConnectionMessage.welcome(welcome).frame))
            actions.append(.switchForm)
        case .refuse(let error):
            actions.append(.write(.error(.init(error, fatal: false))))
        case .authenticated(let message):
            state = .ready
            negotiated = server.version
            principal = server.principal
            clientFrameLimits = server.clientLimits
            handshake = nil
            if let announced {
                channels = ChannelTable(
                    role: .server, limits: announced.channels, peerMaxDataPayload: server.clientLimits.maxDataPayload)
            }
            actions.append(.write(message))
            actions.append(.authenticated(version: negotiated ?? 0))
        case .fail(let error):
            fail(error, &actions)
        }
    }

    private mutating func receiveInClientHandshake(_ frame: Frame, _ actions: inout Actions) {
        guard case .client(var client)? = handshake else { return }
        let action = client.receive(frame)
        handshake = .client(client)
        switch action {
        case .switchForm(let auth):
            announced = client.welcome?.limits
            actions.append(.switchForm)
            actions.append(.write(auth))
        case .sign(let key, let transcript, let switchForm):
            if switchForm {
                announced = client.welcome?.limits
                actions.append(.switchForm)
            }
            actions.append(.sign(key: key, transcript: transcript))
        case .authenticated(let welcome):
            // The same limits that `switchForm` recorded from this `welcome`.
            let announced = welcome.limits
            state = .ready
            negotiated = welcome.version
            channels = ChannelTable(
                role: .client, limits: announced.channels, peerMaxDataPayload: announced.frames.maxDataPayload)
            if announced.idleTimeout > 0 {
                // A third of the timeout leaves two keepalives' worth of slack for a slow path.
                let interval = TimeAmount.nanoseconds(Int64(min(announced.idleTimeout, 1e9) * 1e9 / 3))
                keepaliveInterval = interval
                nextKeepalive = lastFrame + interval
            }
            actions.append(.authenticated(version: welcome.version))
        case .fail(let error):
            end(error, &actions)
        }
    }

    /// Client: the signature asked for by ``Action/sign(key:transcript:)``; writes the `auth` that carries it.
    public mutating func signed(_ signature: SSHSignature) -> Actions {
        var actions = Actions()
        guard case .handshaking = state, case .client(var client)? = handshake else { return actions }
        if let auth = client.signed(signature) { actions.append(.write(auth)) }
        handshake = .client(client)
        settleTimer(&actions)
        return actions
    }

    /// Client: the signature asked for could not be made (an agent that refused, or went away); the connection
    /// ends with `error`.
    public mutating func signingFailed(_ error: ProtocolError) -> Actions {
        var actions = Actions()
        guard case .handshaking = state else { return actions }
        end(error, &actions)
        return actions
    }

    /// Ends the connection without a word to the peer.
    mutating func end(_ error: ProtocolError, _ actions: inout Actions) {
        state = .closed
        actions.append(.end(error))
    }

    mutating func fail(_ error: ProtocolError, _ actions: inout Actions) {
        state = .closed
        actions.append(.fail(error))
    }

    /// The error of the earliest deadline that `now` has reached, if any.
    private func expired(now: NIODeadline) -> ProtocolError? {
        let auth = authDeadline
        let idle = idleDeadline
        if let auth, auth <= now, idle.map({ auth <= $0 }) ?? true {
            let seconds = Timeouts.seconds(timeouts.authentication)
            return ProtocolError(
                .authTimeout,
                role == .server
                    ? "authentication did not complete within \(seconds) s"
                    : "the server did not complete the handshake within \(seconds) s")
        }
        if let grace = shutdownDeadline, grace <= now, let shutdownGrace {
            return ProtocolError(
                .shuttingDown,
                "the server is shutting down, and the \(Timeouts.seconds(shutdownGrace)) s it gave the channels in use have passed"
            )
        }
        if let idle, idle <= now, let timeout = timeouts.idle {
            return ProtocolError(
                .idleTimeout, "closed after \(Timeouts.seconds(timeout)) s without a message from the client")
        }
        return nil
    }

    /// When the grace period of a shutdown ends, while the connection is open.
    private var shutdownDeadline: NIODeadline? { isReady ? graceDeadline : nil }

    private var authDeadline: NIODeadline? {
        if case .handshaking(let deadline) = state { return deadline }
        return nil
    }

    /// When the connection goes idle; before authentication, only if the idle timeout is the shorter of the two.
    private var idleDeadline: NIODeadline? {
        guard let timeout = timeouts.idle else { return nil }
        switch state {
        case .handshaking: return timeout < timeouts.authentication ? lastFrame + timeout : nil
        case .ready: return lastFrame + timeout
        case .inactive, .closed: return nil
        }
    }

    private static func earliest(_ a: NIODeadline?, _ b: NIODeadline?) -> NIODeadline? {
        guard let a else { return b }
        guard let b else { return a }
        return min(a, b)
    }

    /// Asks for a timer at the earliest deadline if the one held is missing or later; cancels one no longer needed.
    /// A held timer that is earlier stays: when it fires, the machine asks again.
    private mutating func settleTimer(_ actions: inout Actions) {
        // Called on every frame, so without an array.
        let needed = Self.earliest(
            Self.earliest(authDeadline, idleDeadline), Self.earliest(nextKeepalive, shutdownDeadline))
        if let needed {
            if timer.map({ needed < $0 }) ?? true {
                timer = needed
                actions.append(.scheduleTimer(at: needed))
            }
        } else if timer != nil {
            timer = nil
            actions.append(.cancelTimer)
        }
    }
}
