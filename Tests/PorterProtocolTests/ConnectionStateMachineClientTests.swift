import NIOCore
import PorterProtocol
import Testing

/// A client's connection state machine, driven against a server's machine in memory (frames pass as values) and
/// against hand-made server frames, with a manual clock.
@Suite struct ConnectionStateMachineClientTests {
    typealias Machine = ConnectionStateMachine
    typealias Server = ConnectionStateMachineChannelTests

    static let start = Server.start

    static func client(token: String = Server.token, handshake seconds: Int64 = 10) -> Machine {
        Machine(
            client: ClientHandshake(
                agent: "porter/test", token: token, nonce: Server.clientNonce,
                limits: FrameLimits(maxDataPayload: 16_384)),
            timeouts: .init(authentication: .seconds(seconds), idle: nil))
    }

    /// The frames among `actions`, in order, as a driver writes them (a failure's `error` included).
    static func frames(_ actions: Machine.Actions) -> [Frame] {
        actions.compactMap { action in
            switch action {
            case .write(let message): message.frame
            case .send(let frame): frame
            case .fail(let error): ConnectionMessage.error(.init(error, fatal: true)).frame
            default: nil
            }
        }
    }

    /// The connection messages in `frames`.
    static func messages(_ frames: [Frame]) throws -> [ConnectionMessage] {
        try frames.map { try ConnectionMessage(frame: $0) }
    }

    /// Passes every frame of `actions` to `peer`, and what it answers back, until neither has more to say;
    /// returns every action of both, in order.
    static func exchange(
        _ actions: Machine.Actions, from sender: inout Machine, to peer: inout Machine, now: NIODeadline
    ) -> [Machine.Action] {
        var all = Array(actions)
        var pending = frames(actions)
        var towardsPeer = true
        while !pending.isEmpty {
            var answers = [Frame]()
            for frame in pending {
                let reply = towardsPeer ? peer.received(frame, now: now) : sender.received(frame, now: now)
                all += reply
                answers += frames(reply)
            }
            pending = answers
            towardsPeer.toggle()
        }
        return all
    }

    /// A client and a server, authenticated on version 2.
    static func connected() throws -> (client: Machine, server: Machine) {
        var client = Self.client()
        var server = Server.machine()
        _ = server.activated(now: Self.start)
        let all = Self.exchange(client.activated(now: Self.start), from: &client, to: &server, now: Self.start)
        guard client.isReady, server.isReady, all.filter({ $0 == .authenticated(version: 2) }).count == 2 else {
            Issue.record("not connected: \(all)")
            throw CancellationError()
        }
        return (client, server)
    }

    @Test func sendsHelloAtActivationAndSwitchesFormsBeforeAuth() throws {
        var client = Self.client()
        let first = Array(client.activated(now: Self.start))
        guard case .write(.hello(let hello)) = first.first else {
            Issue.record("no hello: \(first)")
            return
        }
        #expect(hello.versions == [2])
        #expect(hello.limits == FrameLimits(maxDataPayload: 16_384))
        #expect(first.contains(.scheduleTimer(at: Self.start + .seconds(10))))

        var server = Server.machine()
        _ = server.activated(now: Self.start)
        let welcome = Self.frames(server.received(ConnectionMessage.hello(hello).frame, now: Self.start)).first!
        let answer = Array(client.received(welcome, now: Self.start))
        // The switch comes first: auth is the first frame in the channel form.
        guard answer.count >= 2, answer[0] == .switchForm, case .write(.auth) = answer[1] else {
            Issue.record("expected switchForm then auth: \(answer)")
            return
        }
        #expect(client.serverLimits == Server.announced)
        #expect(!client.isReady)
    }

    @Test func isAuthenticatedByTheServersProofAndReportsItsWelcome() throws {
        let (client, _) = try Self.connected()
        #expect(client.version == 2)
        #expect(client.role == .client)
        #expect(client.welcome?.server == "test-host")
        // Exactly as announced, a fraction kept.
        #expect(client.welcome?.limits.idleTimeout == 30.5)
        #expect(client.channelLimits == Server.channels)
    }

    @Test func aServerWithoutTheTokenIsAnImpostor() throws {
        var client = Self.client()
        _ = client.activated(now: Self.start)
        let welcome = ConnectionMessage.welcome(
            .init(
                version: 2, agent: "porter/test", server: "x", nonce: .init(Server.serverNonce),
                auth: [AuthProof.method], limits: Server.announced))
        _ = client.received(welcome.frame, now: Self.start)
        let forged = ConnectionMessage.ready(.init(proof: .init([UInt8](repeating: 0, count: 32))))
        let actions = Array(client.received(forged.frame, now: Self.start))
        guard case .end(let error) = actions.first else {
            Issue.record("expected end: \(actions)")
            return
        }
        #expect(error.code == .authFailed)
        #expect(client.isClosed)
        #expect(client.version == nil)
    }

    @Test func aWrongTokenEndsWithTheServersError() throws {
        var client = Self.client(token: "wrong")
        var server = Server.machine()
        _ = server.activated(now: Self.start)
        let all = Self.exchange(client.activated(now: Self.start), from: &client, to: &server, now: Self.start)
        // The server fails aloud; its error frame, passed back, ends the client without a word.
        #expect(all.contains { if case .fail(let error) = $0 { error.code == .authFailed } else { false } })
        #expect(all.contains { if case .end(let error) = $0 { error.code == .authFailed } else { false } })
        #expect(client.isClosed)
    }

    /// A `welcome` without the channel limits, in the form a server of version 1 sent.
    @Test func aVersion1WelcomeIsRefused() {
        var client = Self.client()
        _ = client.activated(now: Self.start)
        let welcome =
            #"{"type":"welcome","version":1,"agent":"a","server":"b","nonce":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=","auth":["hmac-sha256"],"limits":{"maxControlPayload":65536,"maxDataPayload":65536,"idleTimeout":30}}"#
        let actions = Array(
            client.received(Frame(kind: .control, payload: ByteBuffer(string: welcome)), now: Self.start))
        guard case .end(let error) = actions.first else {
            Issue.record("expected end: \(actions)")
            return
        }
        #expect(error.code == .unsupportedVersion || error.code == .badMessage, "\(error)")
    }

    @Test func theHandshakeDeadlineFailsAtItsInstant() {
        var client = Self.client(handshake: 5)
        _ = client.activated(now: Self.start)
        let early = Array(client.deadlineReached(now: Self.start + .seconds(5) - .nanoseconds(1)))
        #expect(!early.contains { if case .fail = $0 { true } else { false } })
        let actions = Array(client.deadlineReached(now: Self.start + .seconds(5)))
        guard case .fail(let error) = actions.first else {
            Issue.record("expected fail: \(actions)")
            return
        }
        #expect(error.code == .authTimeout)
        #expect(error.message == "the server did not complete the handshake within 5 s")
    }

    @Test func sendsAKeepaliveEveryThirdOfTheIdleTimeout() throws {
        var (client, server) = try Self.connected()
        // 30.5 s announced: every 10.1666… s.
        let interval = TimeAmount.nanoseconds(Int64(30.5e9 / 3))
        var actions = Array(client.deadlineReached(now: Self.start + interval - .nanoseconds(1)))
        #expect(!actions.contains(.send(ConnectionMessage.keepalive.frame)))
        #expect(actions.contains(.scheduleTimer(at: Self.start + interval)))
        actions = Array(client.deadlineReached(now: Self.start + interval))
        #expect(actions == [.send(ConnectionMessage.keepalive.frame), .scheduleTimer(at: Self.start + interval * 2)])
        // The server takes it silently, and its idle deadline moves on.
        #expect(
            Array(server.received(ConnectionMessage.keepalive.frame, now: Self.start + interval)).allSatisfy {
                if case .scheduleTimer = $0 { true } else { false }
            })
    }

    @Test func pingsArePongedAndPongsReported() throws {
        var (client, server) = try Self.connected()
        let ping = ConnectionMessage.ping(.init(id: 9)).frame
        let answer = Self.frames(server.received(ping, now: Self.start))
        #expect(try Self.messages(answer) == [.pong(.init(id: 9))])
        #expect(Array(client.received(answer[0], now: Self.start)) == [.pong(9)])
        // The server's ping is answered too.
        #expect(try Self.messages(Self.frames(client.received(ping, now: Self.start))) == [.pong(.init(id: 9))])
    }

    @Test func opensAChannelThatTheServerAcceptsAndCarriesItsData() throws {
        var (client, server) = try Self.connected()
        let opened = try client.open(.init(window: 64, parameters: .echo))
        #expect(opened.id == 1)
        let request = Array(server.received(opened.frame, now: Self.start))
        #expect(request.contains(.channel(1, .openRequested(.init(window: 64, parameters: .echo)))))
        let accept = try server.accept(channel: 1, .init(window: 100, details: .echo)).compactMap { action in
            if case .write(let frame) = action { frame } else { nil }
        }
        #expect(
            Array(client.received(accept[0], now: Self.start)) == [
                .channel(1, .accepted(.init(window: 100, details: .echo)))
            ])

        var data = ByteBuffer(string: String(repeating: "x", count: 150))
        let sent = try client.send(channel: 1, data: &data, on: .main)
        // Only the server's window of 100 goes.
        #expect(sent?.payload.readableBytes == 100)
        #expect(try client.send(channel: 1, data: &data, on: .main) == nil)
        #expect(data.readableBytes == 50)

        var answer = ByteBuffer(string: String(repeating: "y", count: 65))
        _ = try? server.send(channel: 1, data: &answer, on: .main)
        #expect(answer.readableBytes == 1)
    }

    @Test func aRefusedOpenFreesItsID() throws {
        var (client, server) = try Self.connected()
        let opened = try client.open(.init(window: 64, parameters: .echo))
        _ = server.received(opened.frame, now: Self.start)
        let refusal = try server.refuse(channel: 1, ProtocolError(.unknownService, "no"))
        #expect(Self.frames(refusal).count == 1)
        #expect(
            Array(client.received(Self.frames(refusal)[0], now: Self.start)) == [
                .channel(1, .refused(ProtocolError(.unknownService, "no")))
            ])
        #expect(client.channelCount == 0)
    }

    @Test func opensNoMoreChannelsThanTheServerAllows() throws {
        var (client, _) = try Self.connected()
        _ = try client.open(.init(window: 64, parameters: .echo))
        _ = try client.open(.init(window: 64, parameters: .echo))
        #expect(throws: ChannelStateMachine.Refusal.tooManyChannels) {
            try client.open(.init(window: 64, parameters: .echo))
        }
    }

    @Test func theServersFatalErrorEndsTheConnectionSilently() throws {
        var (client, _) = try Self.connected()
        let error = ConnectionMessage.error(.init(ProtocolError(.idleTimeout, "closed after 30 s"), fatal: true))
        let actions = Array(client.received(error.frame, now: Self.start))
        #expect(actions.first == .end(ProtocolError(.idleTimeout, "closed after 30 s")))
        #expect(client.isClosed)
    }

    @Test func globalRequestsTravelBothWaysAndTheirAnswersComeInOrder() throws {
        var (client, server) = try Self.connected()
        let mkdir = ConnectionMessage.GlobalRequest(id: 1, request: .fileMkdir(.init(path: "d")))
        let link = ConnectionMessage.GlobalRequest(id: 2, request: .fileSymlink(.init(path: "l", target: "d")))
        for request in [mkdir, link] {
            let frame = try client.send(global: request)
            #expect(Array(server.received(frame, now: Self.start)) == [.global(request)])
        }
        let refusal = ProtocolError(.badPath, "no")
        let answered = [server.answer(global: 1, error: nil), server.answer(global: 2, error: refusal)]
        let answers = try answered.map { try #require($0) }
        #expect(Array(client.received(answers[0], now: Self.start)) == [.globalAnswered(1, nil)])
        #expect(Array(client.received(answers[1], now: Self.start)) == [.globalAnswered(2, refusal)])
        // An answer to nothing, or out of order, is fatal.
        _ = try client.send(global: .init(id: 3, request: .fileMkdir(.init(path: "e"))))
        let wrong = ConnectionMessage.globalOK(.init(id: 4)).frame
        #expect(
            client.received(wrong, now: Self.start).contains {
                if case .fail(let error) = $0 { error.code == .unexpectedMessage } else { false }
            })
    }

    @Test func messagesOnlyAClientSendsAreFatalFromTheServer() throws {
        for message in [
            ConnectionMessage.global(.init(id: 1, request: .fileMkdir(.init(path: "x")))),
            ConnectionMessage.auth(.init(method: AuthProof.method, proof: .init([UInt8](repeating: 1, count: 32)))),
        ] {
            var (client, _) = try Self.connected()
            let actions = Array(client.received(message.frame, now: Self.start))
            #expect(
                actions.contains { if case .fail(let error) = $0 { error.code == .unexpectedMessage } else { false } })
        }
    }
}
