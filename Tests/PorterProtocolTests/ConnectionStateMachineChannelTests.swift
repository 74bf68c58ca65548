import NIOCore
import PorterProtocol
import Testing

/// Channels through the connection's state machine: the handshake's switch to the channel form, channel 0's
/// messages after `ready`, and channel frames routed through the channel table.
@Suite struct ConnectionStateMachineChannelTests {
    typealias Machine = ConnectionStateMachine
    typealias Action = ConnectionStateMachine.Action

    static let token = "secret"
    static let clientNonce = [UInt8](repeating: 1, count: 32)
    static let serverNonce = [UInt8](repeating: 2, count: 32)
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static let channels = ChannelLimits(maxChannels: 2, initialWindow: 1000, maxWindow: 4000, maxGlobalRequests: 4)
    static let announced = ConnectionMessage.Limits(
        frames: FrameLimits(), idleTimeout: 30.5, channels: channels)

    static func machine() -> Machine {
        let identity = ServerHandshake.Identity(agent: "porter/test", server: "test-host", limits: announced)
        return Machine(
            server: ServerHandshake(identity: identity, token: token, nonce: serverNonce),
            timeouts: .init(authentication: .seconds(10), idle: .seconds(30)))
    }

    static func hello(versions: [Int] = [1, 2], limits: FrameLimits? = FrameLimits(maxDataPayload: 16_384)) -> Frame {
        ConnectionMessage.hello(
            .init(versions: versions, agent: "porter/test", nonce: .init(clientNonce), limits: limits)
        )
        .frame
    }

    static var auth: Frame {
        let proofs = AuthProof(token: token, clientNonce: clientNonce, serverNonce: serverNonce)
        return ConnectionMessage.auth(.init(method: AuthProof.method, proof: .init(proofs.proof(for: .client)))).frame
    }

    static func failure(_ actions: Machine.Actions) -> ProtocolError.Code? {
        for case .fail(let error) in actions { return error.code }
        return nil
    }

    /// A machine that has sent `ready`.
    static func ready() throws -> Machine {
        var machine = machine()
        _ = machine.activated(now: start)
        _ = machine.received(hello(), now: start)
        let actions = machine.received(auth, now: start).afterAcceptedAttempt()
        guard case .write(.ready) = actions.first, actions.dropFirst().first == .authenticated(version: 2) else {
            Issue.record("not authenticated: \(actions)")
            throw CancellationError()
        }
        return machine
    }

    static let openEcho = ChannelMessage.open(.init(window: 100, parameters: .echo)).frame(channel: 1)

    // MARK: handshake

    @Test func version2WelcomeAnnouncesChannelLimitsThenSwitchesForm() throws {
        var machine = Self.machine()
        _ = machine.activated(now: Self.start)
        let actions = Array(machine.received(Self.hello(), now: Self.start))
        guard actions.count == 2, case .send(let frame) = actions[0], actions[1] == .switchForm else {
            Issue.record("expected welcome and the switch, got \(actions)")
            return
        }
        guard case .welcome(let welcome) = try ConnectionMessage(frame: frame) else {
            Issue.record("not a welcome")
            return
        }
        #expect(welcome.version == 2)
        #expect(welcome.limits == Self.announced)
        #expect(welcome.nonce.bytes == Self.serverNonce)
        #expect(machine.version == nil)
        #expect(
            machine.received(Self.auth, now: Self.start).afterAcceptedAttempt().dropFirst().first
                == .authenticated(version: 2))
        #expect(machine.version == 2)
        #expect(machine.channelLimits == Self.channels)
    }

    @Test func aHelloOfferingOnlyVersion1IsRefusedUnsupportedVersion() {
        var machine = Self.machine()
        _ = machine.activated(now: Self.start)
        let received = machine.received(Self.hello(versions: [1]), now: Self.start)
        let actions = Array(received)
        #expect(Self.failure(received) == .unsupportedVersion)
        #expect(!actions.contains(.switchForm))
        #expect(!actions.contains { if case .send = $0 { true } else { false } })
        #expect(machine.isClosed)
    }

    @Test func aHelloLimitBelowVersion2sRangeIsBadMessage() {
        var machine = Self.machine()
        _ = machine.activated(now: Self.start)
        let hello = Self.hello(limits: FrameLimits(maxControlPayload: 65_536, maxDataPayload: 16_383))
        #expect(Self.failure(machine.received(hello, now: Self.start)) == .badMessage)
        #expect(machine.isClosed)
    }

    @Test func authOnAnotherChannelIsUnexpected() {
        var machine = Self.machine()
        _ = machine.activated(now: Self.start)
        _ = machine.received(Self.hello(), now: Self.start)
        var auth = Self.auth
        auth.channel = 3
        #expect(Self.failure(machine.received(auth, now: Self.start)) == .unexpectedMessage)
    }

    // MARK: channel 0 after ready

    @Test func keepaliveAndPingAreAnsweredOnChannel0() throws {
        var machine = try Self.ready()
        #expect(machine.received(ConnectionMessage.keepalive.frame, now: Self.start).isEmpty)
        let ping = ControlMessage.Ping(id: 9)
        #expect(
            Array(machine.received(ConnectionMessage.ping(ping).frame, now: Self.start)) == [
                .send(ConnectionMessage.pong(ping).frame)
            ])
    }

    @Test func globalRequestsAreHandedOnInOrderAndAnsweredOneEach() throws {
        var machine = try Self.ready()
        let first = ConnectionMessage.GlobalRequest(id: 42, request: .unknown(name: "reboot"))
        let second = ConnectionMessage.GlobalRequest(id: 7, request: .fileMkdir(.init(path: "d")))
        #expect(Array(machine.received(ConnectionMessage.global(first).frame, now: Self.start)) == [.global(first)])
        #expect(Array(machine.received(ConnectionMessage.global(second).frame, now: Self.start)) == [.global(second)])
        let refusal = ProtocolError(.unknownRequest, "no")
        let failed = machine.answer(global: 42, error: refusal)
        let answer = try #require(failed)
        #expect(try ConnectionMessage(frame: answer) == .globalFail(.init(id: 42, error: refusal)))
        let succeeded = machine.answer(global: 7, error: nil)
        let ok = try #require(succeeded)
        #expect(try ConnectionMessage(frame: ok) == .globalOK(.init(id: 7)))
        #expect(machine.answer(global: 8, error: nil) == nil, "nothing is unanswered")
        #expect(!machine.isClosed)
    }

    @Test func moreUnansweredGlobalRequestsThanTheLimitAreFatal() throws {
        var machine = try Self.ready()
        let limit = try #require(machine.channelLimits).maxGlobalRequests
        for id in 0..<UInt64(limit) {
            let request = ConnectionMessage.global(.init(id: id, request: .fileMkdir(.init(path: "d"))))
            #expect(Self.failure(machine.received(request.frame, now: Self.start)) == nil)
        }
        // One answered makes room for one more.
        _ = machine.answer(global: 0, error: nil)
        let more = ConnectionMessage.global(.init(id: 99, request: .fileMkdir(.init(path: "d"))))
        #expect(Self.failure(machine.received(more.frame, now: Self.start)) == nil)
        #expect(Self.failure(machine.received(more.frame, now: Self.start)) == .limitExceeded)
        #expect(machine.isClosed)
    }

    @Test(arguments: [
        Frame(kind: .control, payload: ByteBuffer(string: #"{"type":"echo"}"#)),
        ConnectionMessage.hello(.init(versions: [2], agent: "x", nonce: .init(clientNonce))).frame,
        ConnectionMessage.pong(.init(id: 1)).frame,
    ])
    func aMessageThatIsNotTheClientsAfterReadyIsFatal(_ frame: Frame) throws {
        var machine = try Self.ready()
        #expect(Self.failure(machine.received(frame, now: Self.start)) != nil)
        #expect(machine.isClosed)
    }

    // MARK: channels

    @Test func anOpenIsHandedOnAndItsDataFlowsWithinTheWindow() throws {
        var machine = try Self.ready()
        let opened = Array(machine.received(Self.openEcho, now: Self.start))
        guard opened.count == 1, case .channel(1, .openRequested(let open)) = opened[0] else {
            Issue.record("expected the open, got \(opened)")
            return
        }
        #expect(open.window == 100)
        let accepted = Array(try machine.accept(channel: 1, .init(window: 1000, details: .echo)))
        #expect(accepted.count == 1)
        #expect(machine.channelCount == 1)

        let data = Frame.data(ByteBuffer(repeating: 0x61, count: 600), channel: 1)
        #expect(
            Array(machine.received(data, now: Self.start))
                == [.channel(1, .deliver(.data(.main, ByteBuffer(repeating: 0x61, count: 600))))])
        // 1000 − 600 credit + 600 held: no grant until consumed; then 600 to refill.
        #expect(machine.consumed(channel: 1, bytes: 99) == nil)
        #expect(machine.consumed(channel: 1, bytes: 501) == Frame.window(600, channel: 1))

        // The server's own data is cut to the client's window of 100.
        var answer = ByteBuffer(repeating: 0x41, count: 150)
        let first = try machine.send(channel: 1, data: &answer, on: .main)
        #expect(first?.payload.readableBytes == 100)
        #expect(try machine.send(channel: 1, data: &answer, on: .main) == nil)
        #expect(answer.readableBytes == 50)
        #expect(
            Array(machine.received(.window(50, channel: 1), now: Self.start)) == [.channel(1, .creditChanged(50))])
    }

    @Test func dataBeyondTheWindowIsFatalFlowControl() throws {
        var machine = try Self.ready()
        _ = machine.received(Self.openEcho, now: Self.start)
        _ = try machine.accept(channel: 1, .init(window: 1000, details: .echo))
        let data = Frame.data(ByteBuffer(repeating: 0x61, count: 1001), channel: 1)
        #expect(Self.failure(machine.received(data, now: Self.start)) == .flowControl)
        #expect(machine.isClosed)
        #expect(throws: ChannelStateMachine.Refusal.closed) {
            var bytes = ByteBuffer(string: "x")
            _ = try machine.send(channel: 1, data: &bytes, on: .main)
        }
    }

    @Test func aFrameOnAChannelNotInUseIsFatalBadChannel() throws {
        var machine = try Self.ready()
        let data = Frame.data(ByteBuffer(string: "x"), channel: 2)
        #expect(Self.failure(machine.received(data, now: Self.start)) == .badChannel)
    }

    @Test func opensBeyondMaxChannelsAreRefusedAndTheConnectionGoesOn() throws {
        var machine = try Self.ready()
        for id: UInt32 in 1...2 {
            var open = Self.openEcho
            open.channel = id
            _ = machine.received(open, now: Self.start)
        }
        var third = Self.openEcho
        third.channel = 3
        let actions = Array(machine.received(third, now: Self.start))
        guard actions.count == 1, case .send(let frame) = actions[0],
            case .refuse(let error) = try ChannelMessage(frame: frame, service: .echo)
        else {
            Issue.record("expected a refusal, got \(actions)")
            return
        }
        #expect(error.code == .tooManyChannels)
        #expect(!machine.isClosed)
        #expect(machine.channelCount == 2)
    }

    @Test func closeFromTheClientIsAnsweredAndFreesTheId() throws {
        var machine = try Self.ready()
        _ = machine.received(Self.openEcho, now: Self.start)
        _ = try machine.accept(channel: 1, .init(window: 1000, details: .echo))
        let actions = Array(machine.received(.close(channel: 1), now: Self.start))
        #expect(actions == [.send(.close(channel: 1)), .channel(1, .closed)])
        #expect(machine.channelCount == 0)
        #expect(Array(machine.received(Self.openEcho, now: Self.start)).count == 1)
    }

    @Test func channelFramesKeepTheConnectionAlive() throws {
        var machine = try Self.ready()
        _ = machine.received(Self.openEcho, now: Self.start)
        _ = try machine.accept(channel: 1, .init(window: 1000, details: .echo))
        let later = Self.start + .seconds(20)
        _ = machine.received(.data(ByteBuffer(string: "x"), channel: 1), now: later)
        // 30 s from the start has passed, but not 30 s from the last frame.
        #expect(machine.deadlineReached(now: Self.start + .seconds(30)).allSatisfy { Self.isTimer($0) })
        #expect(Self.failure(machine.deadlineReached(now: later + .seconds(30))) == .idleTimeout)
    }

    static func isTimer(_ action: Action) -> Bool {
        switch action {
        case .scheduleTimer, .cancelTimer: true
        default: false
        }
    }
}
