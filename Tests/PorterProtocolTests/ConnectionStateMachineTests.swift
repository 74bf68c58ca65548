import NIOCore
import PorterProtocol
import Testing

/// The connection's rules driven with a manual clock: no sockets, no waiting.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine
    typealias Action = ConnectionStateMachine.Action

    static let identity = ServerHandshake.Identity(
        agent: "porter/test", server: "test-host", limits: .init(frames: FrameLimits(), idleTimeout: 30))
    static let token = "secret"
    static let serverNonce = [UInt8](repeating: 2, count: 32)
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static let authTimeout = TimeAmount.seconds(10)
    static let idleTimeout = TimeAmount.seconds(30)

    /// A client that authenticates with the right token, so tests can make its hello and auth.
    struct Client {
        var handshake = ClientHandshake(
            agent: "porter/test", token: ConnectionStateMachineTests.token, nonce: [UInt8](repeating: 1, count: 32))

        mutating func hello() -> Frame { handshake.start().frame }

        /// The `auth` that answers `welcome` (sent in the channel form).
        mutating func auth(answering actions: Machine.Actions) throws -> Frame {
            guard case .send(let welcome) = try #require(Array(actions).first),
                case .switchForm(let auth) = handshake.receive(welcome)
            else {
                Issue.record("no welcome to answer in \(Array(actions))")
                throw CancellationError()
            }
            return auth.frame
        }
    }

    static func machine(auth: TimeAmount = authTimeout, idle: TimeAmount? = idleTimeout) -> Machine {
        Machine(
            server: ServerHandshake(identity: identity, token: token, nonce: serverNonce),
            timeouts: .init(authentication: auth, idle: idle))
    }

    /// A machine that has sent `ready` at `start + 1 s`, the instant of its last frame.
    static func ready(idle: TimeAmount? = idleTimeout) throws -> Machine {
        var machine = machine(idle: idle)
        var client = Client()
        _ = machine.activated(now: start)
        let welcome = machine.received(client.hello(), now: start)
        let actions = machine.received(try client.auth(answering: welcome), now: start + .seconds(1))
            .afterAcceptedAttempt()
        #expect(actions.count >= 2)
        guard case .write(.ready) = actions.first, actions.dropFirst().first == .authenticated(version: 2) else {
            Issue.record("not authenticated: \(actions)")
            throw CancellationError()
        }
        #expect(machine.isReady)
        return machine
    }

    static func failure(_ actions: Machine.Actions) -> ProtocolError.Code? {
        for case .fail(let error) in actions { return error.code }
        return nil
    }

    /// Version 1's `echo` request: a message this protocol does not know.
    static let echoFrame = Frame(kind: .control, payload: ByteBuffer(string: #"{"type":"echo"}"#))
    static let dataFrame = Frame.data(ByteBuffer(string: "abc"))
    /// A frame that needs an answer after `ready`.
    static let pingFrame = ConnectionMessage.ping(.init(id: 7)).frame
    static let pongFrame = ConnectionMessage.pong(.init(id: 7)).frame

    // MARK: handshake

    @Test func handshakeInOrder() throws {
        var machine = Self.machine()
        var client = Client()
        #expect(Array(machine.activated(now: Self.start)) == [.scheduleTimer(at: Self.start + Self.authTimeout)])
        let welcome = machine.received(client.hello(), now: Self.start)
        guard case .send(let frame) = Array(welcome).first,
            case .welcome(let body) = try ConnectionMessage(frame: frame)
        else {
            Issue.record("expected welcome, got \(Array(welcome))")
            return
        }
        #expect(Array(welcome).dropFirst() == [.switchForm])
        #expect(body.version == 2 && body.nonce.bytes == Self.serverNonce)
        #expect(!machine.isReady)
        // What the client announced is the server's to use only once the client has proved itself.
        #expect(machine.clientFrameLimits == nil)
        let auth = try client.auth(answering: welcome)
        let actions = machine.received(auth, now: Self.start + .seconds(1)).afterAcceptedAttempt()
        // Ready, then the idle deadline counted from the auth frame, later than the auth timer held: no new timer.
        guard actions.count == 2, case .write(.ready(let ready)) = actions[0] else {
            Issue.record("expected ready, got \(actions)")
            return
        }
        #expect(actions[1] == .authenticated(version: 2))
        guard case .authenticated = client.handshake.receive(ConnectionMessage.ready(ready).frame) else {
            Issue.record("the client does not accept the server's proof")
            return
        }
        #expect(machine.isReady)
        // The client announced no limits: the defaults.
        #expect(machine.clientFrameLimits == FrameLimits())
    }

    @Test func wrongTokenFailsAuth() {
        var machine = Self.machine()
        var client = Client()
        client.handshake = ClientHandshake(agent: "x", token: "wrong", nonce: [UInt8](repeating: 1, count: 32))
        _ = machine.activated(now: Self.start)
        let welcome = machine.received(client.hello(), now: Self.start)
        let actions = machine.received((try? client.auth(answering: welcome)) ?? Self.echoFrame, now: Self.start)
        #expect(Self.failure(actions) == .authFailed)
        // The attempt comes first, so that it is recorded before the client hears it failed.
        guard case .authAttempt(let attempt) = Array(actions).first else {
            Issue.record("no attempt first: \(Array(actions))")
            return
        }
        #expect(!attempt.accepted && attempt.fatal && attempt.method == AuthProof.method)
        #expect(attempt.refusal?.code == .authFailed)
        #expect(Array(actions).contains(.cancelTimer))
        #expect(machine.isClosed)
        var other = Client()
        #expect(machine.received(other.hello(), now: Self.start).isEmpty)
    }

    static let wrongBeforeHello: [(String, Frame, ProtocolError.Code)] = [
        ("ping", ConnectionMessage.ping(.init(id: 1)).frame, .unexpectedMessage),
        ("keepalive", ConnectionMessage.keepalive.frame, .unexpectedMessage),
        (
            "auth",
            ConnectionMessage.auth(.init(method: AuthProof.method, proof: .init([UInt8](repeating: 1, count: 32))))
                .frame, .unexpectedMessage
        ),
        ("echo", echoFrame, .badMessage),
        ("data", dataFrame, .unexpectedMessage),
        ("not JSON", Frame(kind: .control, payload: ByteBuffer(string: "{")), .badMessage),
        ("unknown type", Frame(kind: .control, payload: ByteBuffer(string: #"{"type":"nope"}"#)), .badMessage),
        (
            "short nonce",
            ConnectionMessage.hello(.init(versions: [2], agent: "x", nonce: .init([1, 2]))).frame, .badMessage
        ),
        (
            "version 1 only",
            ConnectionMessage.hello(.init(versions: [1], agent: "x", nonce: .init([UInt8](repeating: 1, count: 32))))
                .frame, .unsupportedVersion
        ),
        (
            "no common version",
            ConnectionMessage.hello(.init(versions: [9], agent: "x", nonce: .init([UInt8](repeating: 1, count: 32))))
                .frame, .unsupportedVersion
        ),
    ]

    @Test(arguments: wrongBeforeHello.indices) func wrongMessageBeforeHello(_ index: Int) {
        let (name, frame, code) = Self.wrongBeforeHello[index]
        var machine = Self.machine()
        _ = machine.activated(now: Self.start)
        let actions = machine.received(frame, now: Self.start)
        #expect(Self.failure(actions) == code, "\(name)")
        #expect(!Array(actions).contains { if case .write = $0 { true } else { false } }, "\(name)")
        #expect(machine.isClosed)
    }

    static let wrongBeforeAuth: [(String, Frame, ProtocolError.Code)] = [
        ("ping", ConnectionMessage.ping(.init(id: 1)).frame, .unexpectedMessage),
        ("keepalive", ConnectionMessage.keepalive.frame, .unexpectedMessage),
        (
            "hello again",
            ConnectionMessage.hello(.init(versions: [2], agent: "x", nonce: .init([UInt8](repeating: 1, count: 32))))
                .frame, .unexpectedMessage
        ),
        ("echo", echoFrame, .badMessage),
        ("data", dataFrame, .unexpectedMessage),
        ("not JSON", Frame(kind: .control, payload: ByteBuffer(string: "[]")), .badMessage),
        (
            "unknown method",
            ConnectionMessage.auth(.init(method: "plain", proof: .init([UInt8](repeating: 1, count: 32)))).frame,
            .authFailed
        ),
        (
            "bad proof",
            ConnectionMessage.auth(.init(method: AuthProof.method, proof: .init([UInt8](repeating: 1, count: 32))))
                .frame, .authFailed
        ),
    ]

    @Test(arguments: wrongBeforeAuth.indices) func wrongMessageBeforeAuth(_ index: Int) {
        let (name, frame, code) = Self.wrongBeforeAuth[index]
        var machine = Self.machine()
        var client = Client()
        _ = machine.activated(now: Self.start)
        _ = machine.received(client.hello(), now: Self.start)
        let actions = machine.received(frame, now: Self.start)
        #expect(Self.failure(actions) == code, "\(name)")
        #expect(!machine.isReady, "\(name)")
        #expect(machine.isClosed, "\(name)")
    }

    // MARK: deadlines

    @Test func authDeadlineFiresAtItsInstant() {
        var machine = Self.machine()
        var client = Client()
        _ = machine.activated(now: Self.start)
        _ = machine.received(client.hello(), now: Self.start + .seconds(5))
        let deadline = Self.start + Self.authTimeout
        // Fired a nanosecond early: nothing but the same timer again.
        #expect(Array(machine.deadlineReached(now: deadline - .nanoseconds(1))) == [.scheduleTimer(at: deadline)])
        let actions = machine.deadlineReached(now: deadline)
        #expect(Array(actions) == [.fail(ProtocolError(.authTimeout, "authentication did not complete within 10 s"))])
        #expect(machine.isClosed)
    }

    @Test func authDeadlineIsNotPushedByFrames() {
        var machine = Self.machine(idle: nil)
        var client = Client()
        _ = machine.activated(now: Self.start)
        #expect(machine.received(client.hello(), now: Self.start + .seconds(9)).count == 2)
        #expect(Self.failure(machine.deadlineReached(now: Self.start + Self.authTimeout)) == .authTimeout)
    }

    @Test func idleTimeoutShorterThanAuthCountsBeforeAuthentication() {
        var machine = Self.machine(auth: .seconds(10), idle: .seconds(3))
        var client = Client()
        #expect(Array(machine.activated(now: Self.start)) == [.scheduleTimer(at: Self.start + .seconds(3))])
        _ = machine.received(client.hello(), now: Self.start + .seconds(2))
        #expect(
            Array(machine.deadlineReached(now: Self.start + .seconds(3)))
                == [.scheduleTimer(at: Self.start + .seconds(5))])
        #expect(machine.deadlineReached(now: Self.start + .seconds(5) - .nanoseconds(1)).count == 1)
        let actions = machine.deadlineReached(now: Self.start + .seconds(5))
        #expect(
            Array(actions)
                == [.fail(ProtocolError(.idleTimeout, "closed after 3 s without a message from the client"))])
    }

    @Test func fractionalTimeoutsAreNamedExactly() {
        var machine = Self.machine(auth: .milliseconds(250), idle: nil)
        _ = machine.activated(now: Self.start)
        let actions = machine.deadlineReached(now: Self.start + .milliseconds(250))
        #expect(Array(actions) == [.fail(ProtocolError(.authTimeout, "authentication did not complete within 0.25 s"))])
    }

    @Test func idleTimeoutFiresAtItsInstantAfterReady() throws {
        var machine = try Self.ready()
        let authenticated = Self.start + .seconds(1)
        // The auth timer the driver holds fires first: the machine asks for the idle deadline.
        let idle = authenticated + Self.idleTimeout
        #expect(Array(machine.deadlineReached(now: Self.start + Self.authTimeout)) == [.scheduleTimer(at: idle)])
        #expect(Array(machine.deadlineReached(now: idle - .nanoseconds(1))) == [.scheduleTimer(at: idle)])
        let actions = machine.deadlineReached(now: idle)
        #expect(
            Array(actions)
                == [.fail(ProtocolError(.idleTimeout, "closed after 30 s without a message from the client"))])
        #expect(machine.isClosed)
        #expect(machine.received(Self.pingFrame, now: idle).isEmpty)
    }

    @Test func aFramePushesTheIdleDeadlineForward() throws {
        var machine = try Self.ready()
        let first = Self.start + .seconds(1) + Self.idleTimeout
        _ = machine.deadlineReached(now: Self.start + Self.authTimeout)
        // A frame 20 s later: no new timer is needed, the one held fires early and asks again.
        let later = Self.start + .seconds(21)
        #expect(Array(machine.received(Self.pingFrame, now: later)) == [.send(Self.pongFrame)])
        let pushed = later + Self.idleTimeout
        #expect(Array(machine.deadlineReached(now: first)) == [.scheduleTimer(at: pushed)])
        // A keepalive pushes it too.
        let keepalive = later + .seconds(10)
        #expect(machine.received(ConnectionMessage.keepalive.frame, now: keepalive).isEmpty)
        #expect(Array(machine.deadlineReached(now: pushed)) == [.scheduleTimer(at: keepalive + Self.idleTimeout)])
        #expect(machine.deadlineReached(now: keepalive + Self.idleTimeout - .nanoseconds(1)).count == 1)
        #expect(Self.failure(machine.deadlineReached(now: keepalive + Self.idleTimeout)) == .idleTimeout)
    }

    @Test func idleTimeoutZeroNeverFires() throws {
        var machine = try Self.ready(idle: nil)
        // The auth timer still held is of no use any more.
        let actions = machine.deadlineReached(now: Self.start + Self.authTimeout)
        #expect(actions.isEmpty)
        let years = Self.start + .hours(24 * 365 * 10)
        #expect(machine.deadlineReached(now: years).isEmpty)
        #expect(Array(machine.received(Self.pingFrame, now: years)) == [.send(Self.pongFrame)])
        #expect(machine.isReady)
    }

    @Test func noIdleTimeoutCancelsTheAuthTimerOnReady() {
        var machine = Self.machine(auth: .seconds(10), idle: nil)
        var client = Client()
        _ = machine.activated(now: Self.start)
        let welcome = machine.received(client.hello(), now: Self.start)
        let actions = machine.received((try? client.auth(answering: welcome)) ?? Self.echoFrame, now: Self.start)
            .afterAcceptedAttempt()
        #expect(actions.count == 3)
        #expect(actions.last == .cancelTimer)
    }

    @Test func shorterIdleTimeoutAsksForAnEarlierTimerOnReady() {
        var machine = Self.machine(auth: .seconds(10), idle: .seconds(3))
        var client = Client()
        _ = machine.activated(now: Self.start)
        let welcome = machine.received(client.hello(), now: Self.start)
        // The hello pushed the idle deadline to start + 3 s, the timer held; the auth frame does not need an
        // earlier one.
        let auth = (try? client.auth(answering: welcome)) ?? Self.echoFrame
        #expect(machine.received(auth, now: Self.start + .seconds(1)).afterAcceptedAttempt().count == 2)
        #expect(
            Array(machine.deadlineReached(now: Self.start + .seconds(3)))
                == [.scheduleTimer(at: Self.start + .seconds(4))])
    }

    // MARK: keepalive and ping

    @Test func pingAnswersKeepTheirOrder() throws {
        var machine = try Self.ready()
        let answers = (1...5).flatMap { id in
            Array(machine.received(ConnectionMessage.ping(.init(id: UInt64(id))).frame, now: Self.start + .seconds(2)))
        }
        #expect(answers == (1...5).map { .send(ConnectionMessage.pong(.init(id: UInt64($0))).frame) })
    }

    @Test func nothingIsReadAfterFailure() {
        var machine = Self.machine()
        _ = machine.activated(now: Self.start)
        _ = machine.deadlineReached(now: Self.start + Self.authTimeout)
        var client = Client()
        #expect(machine.received(client.hello(), now: Self.start + Self.authTimeout).isEmpty)
        #expect(machine.deadlineReached(now: Self.start + .hours(1)).isEmpty)
        #expect(machine.activated(now: Self.start).isEmpty)
    }

    @Test func closedNeedsNoTimer() throws {
        var machine = try Self.ready()
        machine.closed()
        #expect(machine.isClosed)
        #expect(machine.deadlineReached(now: Self.start + .hours(1)).isEmpty)
    }
}
