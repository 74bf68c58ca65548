import NIOCore

/// The rules of one connection as a pure state machine: inputs in, ``Action``s out, no I/O.
///
/// It owns what belongs to the connection rather than to a request: the handshake (through ``ServerHandshake``),
/// the authentication deadline, the idle timeout, `keepalive` and `ping`, and fatal errors. Everything else the
/// client sends after `ready` is handed on, decoded once, as ``Action/deliver(_:)``.
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
/// On version 2 (docs/design/protocol-2.md) the machine also runs the channels: after `welcome` it asks for the
/// channel form (``Action/switchForm``); after `ready` it answers `keepalive`, `ping` and global requests on
/// channel 0 itself and runs every frame on another channel through its ``ChannelTable``, handing on what the
/// channel's local code must see as ``Action/channel(_:_:)``. Only the server role is implemented for now.
public struct ConnectionStateMachine: Sendable {
    private enum State {
        case inactive
        case handshaking(authDeadline: NIODeadline)
        case ready
        case closed
    }

    private var state = State.inactive
    private var handshake: ServerHandshake
    private let timeouts: Timeouts
    /// When the last complete frame arrived from the client (activation, before the first).
    private var lastFrame = NIODeadline.uptimeNanoseconds(0)
    /// The timer the driver holds for the machine, if any.
    private var timer: NIODeadline?
    /// Version 2: the limits announced in `welcome`, from `hello` on.
    var announced: ConnectionMessage.Limits?
    /// Version 2: the channels, from `ready` on.
    var channels: ChannelTable?

    /// A server's connection, authenticated by `handshake`.
    public init(server handshake: ServerHandshake, timeouts: Timeouts) {
        self.handshake = handshake
        self.timeouts = timeouts
    }

    /// Whether `ready` has been sent and the connection is not closed.
    public var isReady: Bool {
        if case .ready = state { return true }
        return false
    }

    /// The protocol version negotiated, once authenticated.
    public var version: Int? { handshake.version }

    /// Whether the machine has failed or been told the connection closed: it reads nothing more.
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The connection is up (for TLS, when the TCP connection is: the deadline covers the TLS handshake).
    public mutating func activated(now: NIODeadline) -> Actions {
        var actions = Actions()
        activate(now: now)
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
            receiveWhenReady(frame, &actions)
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
        }
        settleTimer(&actions)
        return actions
    }

    /// The timer asked for before is gone (another driver took the machine over): asks for the one needed now.
    public mutating func timerDropped() -> Actions {
        var actions = Actions()
        timer = nil
        settleTimer(&actions)
        return actions
    }

    /// The connection closed: the machine reads nothing more and needs no timer.
    public mutating func closed() {
        state = .closed
        timer = nil
    }

    private mutating func activate(now: NIODeadline) {
        guard case .inactive = state else { return }
        state = .handshaking(authDeadline: now + timeouts.authentication)
        lastFrame = now
    }

    private mutating func receiveInHandshake(_ frame: Frame, _ actions: inout Actions) {
        if announced != nil, frame.channel != 0 {
            fail(
                ProtocolError(.unexpectedMessage, "a frame on channel \(frame.channel) before authentication"), &actions
            )
            return
        }
        let action: ServerHandshake.Action
        do {
            action = handshake.receive(try ControlMessage(frame: frame))
        } catch {
            fail(error, &actions)
            return
        }
        switch action {
        case .reply(let message):
            actions.append(.write(message))
        case .welcome(let welcome):
            announced = welcome.limits
            actions.append(.send(ConnectionMessage.welcome(welcome).frame))
            actions.append(.switchForm)
        case .authenticated(let message):
            state = .ready
            if let announced {
                channels = ChannelTable(
                    role: .server, limits: announced.channels,
                    peerMaxDataPayload: handshake.clientLimits.maxDataPayload)
            }
            actions.append(.write(message))
            actions.append(.authenticated(version: handshake.version ?? 0))
        case .fail(let error):
            fail(error, &actions)
        }
    }

    private mutating func receiveWhenReady(_ frame: Frame, _ actions: inout Actions) {
        if channels != nil {
            receiveOnChannels(frame, &actions)
            return
        }
        guard frame.kind == .control else {
            actions.append(.deliver(DeliveredFrame(frame, decoded: nil)))
            return
        }
        let decoded: Result<ControlMessage, ProtocolError>
        do {
            decoded = .success(try ControlMessage(frame: frame))
        } catch {
            // Version 1 reports a malformed message where the request reads it, after the frames before it.
            decoded = .failure(error)
        }
        switch decoded {
        case .success(.keepalive):
            // Its only effect, pushing the idle deadline forward, has happened.
            break
        case .success(.ping(let ping)):
            actions.append(.write(.pong(ping)))
        default:
            actions.append(.deliver(DeliveredFrame(frame, decoded: decoded)))
        }
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
            return ProtocolError(
                .authTimeout,
                "authentication did not complete within \(Timeouts.seconds(timeouts.authentication)) s")
        }
        if let idle, idle <= now, let timeout = timeouts.idle {
            return ProtocolError(
                .idleTimeout, "closed after \(Timeouts.seconds(timeout)) s without a message from the client")
        }
        return nil
    }

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

    /// Asks for a timer at the earliest deadline if the one held is missing or later; cancels one no longer needed.
    /// A held timer that is earlier stays: when it fires, the machine asks again.
    private mutating func settleTimer(_ actions: inout Actions) {
        let needed: NIODeadline? =
            switch (authDeadline, idleDeadline) {
            case (let auth?, let idle?): min(auth, idle)
            case (let auth?, nil): auth
            case (nil, let idle?): idle
            case (nil, nil): nil
            }
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
