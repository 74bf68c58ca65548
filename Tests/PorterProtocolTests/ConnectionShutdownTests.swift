import NIOCore
import PorterProtocol
import Testing

/// Shutting down (docs/design/protocol-2.md section 4.5) through the connection's state machine, with a manual
/// clock: the `shutdown` notice, opens refused and the connection failed `shutting-down` once its last channel
/// is free or the grace period has passed; and the client's side of the notice.
@Suite struct ConnectionShutdownTests {
    typealias Machine = ConnectionStateMachine
    typealias Server = ConnectionStateMachineChannelTests
    typealias Client = ConnectionStateMachineClientTests

    static let start = Server.start
    static let grace = TimeAmount.seconds(5)

    /// A ready server machine with echo channel 1 open and accepted.
    static func serverWithAChannel() throws -> Machine {
        var machine = try Server.ready()
        _ = machine.received(Server.openEcho, now: start)
        _ = try machine.accept(channel: 1, .init(window: 1000, details: .echo))
        return machine
    }

    /// The `shutdown` notices among `actions`.
    static func notices(_ actions: Machine.Actions) -> [ConnectionMessage.Shutdown] {
        Client.frames(actions).compactMap { frame in
            guard frame.kind == .control, frame.channel == 0,
                case .shutdown(let notice) = try? ConnectionMessage(frame: frame)
            else { return nil }
            return notice
        }
    }

    static func failure(_ actions: Machine.Actions) -> ProtocolError? {
        for case .fail(let error) in actions { return error }
        return nil
    }

    @Test func aConnectionWithNoChannelFailsAtOnceAfterTheNotice() throws {
        var machine = try Server.ready()
        let actions = machine.shutDown(grace: Self.grace, now: Self.start)
        #expect(Self.notices(actions) == [.init(grace: 5)])
        #expect(Self.failure(actions)?.code == .shuttingDown)
        #expect(machine.isClosed)
    }

    @Test func aChannelInUseGoesOnAndItsCloseEndsTheConnection() throws {
        var machine = try Self.serverWithAChannel()
        let actions = machine.shutDown(grace: Self.grace, now: Self.start)
        #expect(Self.notices(actions) == [.init(grace: 5)])
        #expect(Self.failure(actions) == nil)
        #expect(actions.contains(.scheduleTimer(at: Self.start + Self.grace)))
        #expect(machine.isShuttingDown)

        // The channel's data still flows, and ping still works.
        let data = Frame.data(ByteBuffer(string: "hello"), channel: 1)
        #expect(
            Array(machine.received(data, now: Self.start))
                == [.channel(1, .deliver(.data(.main, ByteBuffer(string: "hello"))))])
        let ping = ConnectionMessage.ping(.init(id: 7)).frame
        #expect(Array(machine.received(ping, now: Self.start)) == [.send(ConnectionMessage.pong(.init(id: 7)).frame)])

        // The client's close frees the last channel: the connection ends.
        let closed = machine.received(.close(channel: 1), now: Self.start)
        #expect(Array(closed).prefix(2) == [.send(.close(channel: 1)), .channel(1, .closed)])
        let error = try #require(Self.failure(closed))
        #expect(error.code == .shuttingDown)
        #expect(error.message.contains("no channel in use"))
        #expect(machine.isClosed)
    }

    @Test func anOpenWhileShuttingDownIsRefusedAndTheConnectionGoesOn() throws {
        var machine = try Self.serverWithAChannel()
        _ = machine.shutDown(grace: Self.grace, now: Self.start)
        var open = Server.openEcho
        open.channel = 2
        let actions = Array(machine.received(open, now: Self.start))
        guard actions.count == 1, case .send(let frame) = actions[0],
            case .refuse(let error) = try ChannelMessage(frame: frame, service: .echo)
        else {
            Issue.record("expected a refusal, got \(actions)")
            return
        }
        #expect(error.code == .shuttingDown)
        #expect(frame.channel == 2)
        #expect(!machine.isClosed)
        #expect(machine.channelCount == 1)
    }

    @Test func theGracePeriodsEndFailsTheConnection() throws {
        var machine = try Self.serverWithAChannel()
        _ = machine.shutDown(grace: Self.grace, now: Self.start)
        // A frame from the client does not move the grace period's end.
        _ = machine.received(.data(ByteBuffer(string: "x"), channel: 1), now: Self.start + .seconds(4))
        #expect(Self.failure(machine.deadlineReached(now: Self.start + .seconds(4))) == nil)
        let error = try #require(Self.failure(machine.deadlineReached(now: Self.start + Self.grace)))
        #expect(error.code == .shuttingDown)
        #expect(error.message.contains("5 s"))
        #expect(machine.isClosed)
    }

    @Test func aSecondShutdownEndsTheGracePeriodAtOnce() throws {
        var machine = try Self.serverWithAChannel()
        _ = machine.shutDown(grace: Self.grace, now: Self.start)
        let second = machine.shutDown(grace: Self.grace, now: Self.start + .seconds(1))
        #expect(Self.notices(second).isEmpty)
        #expect(Self.failure(second)?.code == .shuttingDown)
        #expect(machine.isClosed)
    }

    @Test func noGracePeriodFailsEveryConnectionAtOnce() throws {
        var machine = try Self.serverWithAChannel()
        let actions = machine.shutDown(grace: .zero, now: Self.start)
        #expect(Self.notices(actions).isEmpty)
        #expect(Self.failure(actions)?.code == .shuttingDown)
    }

    @Test func aConnectionNotYetAuthenticatedFailsAtOnce() throws {
        var machine = Server.machine()
        _ = machine.activated(now: Self.start)
        _ = machine.received(Server.hello(), now: Self.start)
        let actions = machine.shutDown(grace: Self.grace, now: Self.start)
        #expect(Self.notices(actions).isEmpty)
        #expect(Self.failure(actions)?.code == .shuttingDown)
        #expect(machine.isClosed)
    }

    @Test func refusingTheLastChannelWhileShuttingDownEndsTheConnection() throws {
        var machine = try Server.ready()
        _ = machine.received(Server.openEcho, now: Self.start)
        // The open is being decided when the shutdown begins.
        let notice = machine.shutDown(grace: Self.grace, now: Self.start)
        #expect(Self.failure(notice) == nil)
        let actions = try machine.refuse(channel: 1, ProtocolError(.notPermitted, "no"))
        #expect(Client.frames(actions).first?.channel == 1)
        #expect(Self.failure(actions)?.code == .shuttingDown)
    }

    @Test func aClientToldOfTheShutdownOpensNothingMore() throws {
        var (client, server) = try Client.connected()
        let opened = try client.open(.init(window: 64, parameters: .echo))
        _ = server.received(opened.frame, now: Self.start)
        for case .write(let frame) in try server.accept(channel: 1, .init(window: 64, details: .echo)) {
            _ = client.received(frame, now: Self.start)
        }
        let notice = Client.frames(server.shutDown(grace: .milliseconds(2500), now: Self.start))
        #expect(notice.count == 1)
        #expect(Array(client.received(notice[0], now: Self.start)) == [.shutdownAnnounced(grace: 2.5)])
        #expect(client.shutdownAnnounced)
        #expect(throws: ChannelStateMachine.Refusal.shuttingDown) {
            try client.open(.init(window: 64, parameters: .echo))
        }
        // The open channel still carries data.
        var data = ByteBuffer(string: "still here")
        #expect(try client.send(channel: 1, data: &data, on: .main) != nil)
        #expect(!client.isClosed)
    }
}
