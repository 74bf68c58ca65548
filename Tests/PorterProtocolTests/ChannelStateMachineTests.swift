import NIOCore
import Testing

@testable import PorterProtocol

/// A channel's life on both sides, driven frame by frame: no sockets (docs/design/protocol-2.md sections 3.3, 5.2,
/// 5.3).
@Suite struct ChannelStateMachineTests {
    typealias Action = ChannelStateMachine.Action

    static let exec = ChannelMessage.Open(window: 2, parameters: .exec(ControlMessage.Exec(argv: ["cat"])))
    static let echo = ChannelMessage.Open(window: 8, parameters: .echo)
    static func accept(_ window: Int, _ details: ChannelMessage.Accept.Details = .echo) -> ChannelMessage.Accept {
        ChannelMessage.Accept(window: window, details: details)
    }

    /// A client's and a server's table and the frames in flight each way, in order.
    struct Pair {
        var client: ChannelTable
        var server: ChannelTable
        var toServer: [Frame] = []
        var toClient: [Frame] = []
        /// Every action each side produced, in order.
        var clientActions: [Action] = []
        var serverActions: [Action] = []

        init(maxChannels: Int = 4, maxDataPayload: Int = 1024) {
            let limits = ChannelLimits(maxChannels: maxChannels)
            client = ChannelTable(role: .client, limits: limits, peerMaxDataPayload: maxDataPayload)
            server = ChannelTable(role: .server, limits: limits, peerMaxDataPayload: maxDataPayload)
        }

        /// Opens a channel and has the server accept it with `accept`; both sides are open.
        mutating func open(_ open: ChannelMessage.Open, accept: ChannelMessage.Accept) throws -> UInt32 {
            let (id, frame) = try client.open(open)
            #expect(Array(server.received(frame)) == [.openRequested(open)])
            let actions = Array(try server.accept(id, accept))
            #expect(actions == [.write(ChannelMessage.accept(accept).frame(channel: id))])
            guard case .write(let acceptFrame) = try #require(actions.first) else { throw CancellationError() }
            #expect(Array(client.received(acceptFrame)) == [.accepted(accept)])
            return id
        }

        /// Delivers the next frame to the server; its writes go in flight, data is consumed at once.
        mutating func deliverToServer() {
            Self.deliver(toServer.removeFirst(), to: &server, replies: &toClient, log: &serverActions)
        }

        /// Delivers the next frame to the client; its writes go in flight, data is consumed at once.
        mutating func deliverToClient() {
            Self.deliver(toClient.removeFirst(), to: &client, replies: &toServer, log: &clientActions)
        }

        private static func deliver(
            _ frame: Frame, to table: inout ChannelTable, replies: inout [Frame], log: inout [Action]
        ) {
            for action in table.received(frame) {
                log.append(action)
                switch action {
                case .write(let reply): replies.append(reply)
                case .deliver(.data(_, let bytes)):
                    if let window = table.consumed(frame.channel, bytes.readableBytes) { replies.append(window) }
                default: break
                }
            }
        }
    }

    /// The fatal error among `actions`, if any.
    static func fatal(_ actions: ChannelStateMachine.Actions) -> ProtocolError.Code? {
        for case .fail(let error) in actions { return error.code }
        return nil
    }

    // MARK: - Every order of eof and close

    /// The four events of a channel's end.
    enum Event: String, CaseIterable {
        case clientEOF = "ce"
        case serverEOF = "se"
        case clientClose = "cc"
        case serverClose = "sc"
    }

    /// Every order of the events the tables allow, derived from the rules alone: both closes happen, each eof at
    /// most once and before its own side's close (after it, a side sends nothing); any other order.
    static func allowedOrders() -> Set<[Event]> {
        var orders = Set<[Event]>()
        func extend(_ order: [Event]) {
            if order.contains(.clientClose), order.contains(.serverClose) { orders.insert(order) }
            for event in Event.allCases where !order.contains(event) {
                switch event {
                case .clientEOF where order.contains(.clientClose): continue
                case .serverEOF where order.contains(.serverClose): continue
                default: extend(order + [event])
                }
            }
        }
        extend([])
        return orders
    }

    /// One point of the exploration: both sides, what is in flight, and which events were sent in which order.
    struct Exploration {
        var pair: Pair
        let id: UInt32
        var sent: [Event] = []
        let slipIn: Bool

        func state(_ table: ChannelTable) -> ChannelStateMachine.State { table.channel(id)?.state ?? .free }

        /// Events one side may cause now: its eof while it may still send data, its close until it has sent it.
        var possibleEvents: [Event] {
            var events: [Event] = []
            let client = state(pair.client)
            let server = state(pair.server)
            if client == .open || client == .gotEOF { events.append(.clientEOF) }
            if server == .open || server == .gotEOF { events.append(.serverEOF) }
            if [.open, .sentEOF, .gotEOF, .bothEOF].contains(client) { events.append(.clientClose) }
            if [.open, .sentEOF, .gotEOF, .bothEOF].contains(server) { events.append(.serverClose) }
            return events
        }

        /// A data byte (if there is credit) and a message from each side that may still send them.
        mutating func slipInFrames() throws {
            guard slipIn else { return }
            let client = state(pair.client)
            if [.open, .gotEOF].contains(client) {
                var byte = ByteBuffer(bytes: [0x61])
                if let frame = try pair.client.send(id, data: &byte) { pair.toServer.append(frame) }
            }
            if [.open, .sentEOF, .gotEOF, .bothEOF].contains(client) {
                pair.toServer.append(try pair.client.send(id, .execSignal(.init(name: "WINCH"))))
            }
            let server = state(pair.server)
            if [.open, .gotEOF].contains(server) {
                var byte = ByteBuffer(bytes: [0x62])
                if let frame = try pair.server.send(id, data: &byte, on: .output) { pair.toClient.append(frame) }
            }
            if [.open, .sentEOF, .gotEOF, .bothEOF].contains(server) {
                pair.toClient.append(try pair.server.send(id, .reject(ProtocolError(.badRequest, "no"))))
            }
        }

        mutating func cause(_ event: Event) throws {
            sent.append(event)
            let frame: Frame? =
                switch event {
                case .clientEOF: try pair.client.sendEOF(id)
                case .serverEOF: try pair.server.sendEOF(id)
                case .clientClose: try pair.client.sendClose(id)
                case .serverClose: try pair.server.sendClose(id)
                }
            let written = try #require(frame, "\(event) after \(sent)")
            if event == .clientEOF || event == .clientClose {
                pair.toServer.append(written)
            } else {
                pair.toClient.append(written)
            }
        }

        /// Delivers frames to one side up to and including the next eof or close, so that frames slipped in
        /// do not multiply the orders explored.
        mutating func deliver(toServer: Bool) {
            while toServer ? !pair.toServer.isEmpty : !pair.toClient.isEmpty {
                let kind = (toServer ? pair.toServer : pair.toClient)[0].kind
                if toServer {
                    let before = pair.server.channel(id)?.state
                    pair.deliverToServer()
                    // A close the server answers at once is its close event.
                    if kind == .close, before != .closing { sent.append(.serverClose) }
                } else {
                    let before = pair.client.channel(id)?.state
                    pair.deliverToClient()
                    if kind == .close, before != .closing { sent.append(.clientClose) }
                }
                if kind == .eof || kind == .close { return }
            }
        }
    }

    /// Explores every schedule from `point`; returns how many ended, checking each ends in free on both sides.
    /// Before every step, each side slips in what it may still send; a delivery runs through the next eof or
    /// close in flight, so there is always one to deliver and the exploration ends.
    static func explore(_ point: Exploration, orders: inout Set<[Event]>, slipped: inout Int) throws -> Int {
        var schedules = 0
        for event in point.possibleEvents {
            var next = point
            try next.slipInFrames()
            try next.cause(event)
            schedules += try explore(next, orders: &orders, slipped: &slipped)
        }
        for toServer in [true, false] {
            let queue = toServer ? point.pair.toServer : point.pair.toClient
            guard queue.contains(where: { $0.kind == .eof || $0.kind == .close }) else { continue }
            var next = point
            try next.slipInFrames()
            next.deliver(toServer: toServer)
            schedules += try explore(next, orders: &orders, slipped: &slipped)
        }
        if schedules == 0 {
            // Nothing left to do: the channel must be free on both sides with nothing in flight, and no error.
            #expect(point.pair.client.count == 0 && point.pair.server.count == 0, "\(point.sent)")
            #expect(point.pair.toServer.isEmpty && point.pair.toClient.isEmpty, "\(point.sent)")
            for action in point.pair.clientActions + point.pair.serverActions {
                if case .fail = action { Issue.record("\(action) in \(point.sent)") }
                if case .channelFailed = action { Issue.record("\(action) in \(point.sent)") }
            }
            #expect(point.pair.clientActions.filter { $0 == .closed }.count == 1, "\(point.sent)")
            #expect(point.pair.serverActions.filter { $0 == .closed }.count == 1, "\(point.sent)")
            orders.insert(point.sent)
            for action in point.pair.clientActions + point.pair.serverActions {
                switch action {
                case .creditChanged, .deliver(.message), .deliver(.data): slipped += 1
                default: break
                }
            }
            return 1
        }
        return schedules
    }

    @Test(arguments: [false, true])
    func everyOrderOfEOFAndCloseEndsInFree(slipIn: Bool) throws {
        var pair = Pair()
        let id = try pair.open(Self.exec, accept: Self.accept(2, .exec(pid: 42)))
        var orders = Set<[Event]>()
        var slipped = 0
        let schedules = try Self.explore(
            Exploration(pair: pair, id: id, slipIn: slipIn), orders: &orders, slipped: &slipped)
        // Window frames, messages and data arrived in the schedules with frames slipped in, none without.
        #expect(slipIn ? slipped > schedules * 2 : slipped == 0)
        #expect(Self.allowedOrders().count == 14)
        #expect(orders == Self.allowedOrders())
        // Every interleaving of sends and deliveries: 314, the same with frames slipped in (a delivery runs
        // through the next eof or close).
        #expect(schedules == 314)
    }

    @Test func slippedInFramesAreDeliveredWindowedOrDiscarded() throws {
        // One schedule of the exploration, checked action by action: the server closes while the client's data,
        // message and eof are in flight.
        var pair = Pair()
        let id = try pair.open(Self.exec, accept: Self.accept(2, .exec(pid: 42)))
        var stdin = ByteBuffer(string: "ab")
        let data = try pair.client.send(id, data: &stdin)
        pair.toServer.append(try #require(data))
        pair.toServer.append(try pair.client.send(id, .execSignal(.init(name: "INT"))))
        let eof = try pair.client.sendEOF(id)
        pair.toServer.append(try #require(eof))
        let close = try pair.server.sendClose(id)
        pair.toClient.append(try #require(close))
        pair.deliverToServer()
        pair.deliverToServer()
        pair.deliverToServer()
        #expect(pair.serverActions.isEmpty)  // discarded: the server has sent close
        #expect(pair.toClient.count == 1)  // no window frame for discarded data
        pair.deliverToClient()
        #expect(pair.clientActions == [.write(.close(channel: id)), .closed])
        #expect(!pair.client.isInUse(id))
        pair.deliverToServer()
        #expect(pair.serverActions == [.closed])
        #expect(!pair.server.isInUse(id))
    }

    // MARK: - Windows through the machine

    @Test func windowGrantedAtExactlyHalf() throws {
        var pair = Pair()
        let id = try pair.open(Self.echo, accept: Self.accept(8))
        var data = ByteBuffer(string: "abcd")
        let frameSent = try pair.client.send(id, data: &data)
        let frame = try #require(frameSent)
        #expect(Array(pair.server.received(frame)) == [.deliver(.data(.main, ByteBuffer(string: "abcd")))])
        #expect(pair.server.consumed(id, 3) == nil)  // credit 4 + held 1 = 5: one byte above half
        let granted = pair.server.consumed(id, 1)  // 4 + 0 = 4 = 8 / 2
        let window = try #require(granted)
        #expect(window == .window(4, channel: id))
        #expect(pair.client.channel(id)?.outbound.credit == 4)
        #expect(Array(pair.client.received(window)) == [.creditChanged(8)])
    }

    @Test func dataBeyondCreditIsFlowControl() throws {
        var pair = Pair()
        let id = try pair.open(Self.echo, accept: Self.accept(8))
        let nine = Frame.data(ByteBuffer(string: "123456789"), channel: id)
        #expect(Self.fatal(pair.server.received(nine)) == .flowControl)
        let eight = Frame.data(ByteBuffer(string: "12345678"), channel: id)
        #expect(Array(pair.client.received(eight)) == [.deliver(.data(.main, ByteBuffer(string: "12345678")))])
        #expect(Self.fatal(pair.client.received(.data(ByteBuffer(string: "x"), channel: id))) == .flowControl)
    }

    @Test func creditAboveTheLargestIsFlowControl() throws {
        var pair = Pair()
        let id = try pair.open(Self.echo, accept: Self.accept(8))
        // The client holds 8 of credit: 2^32 − 9 more is exactly the largest, one more overflows.
        #expect(Array(pair.client.received(.window(UInt32.max - 8, channel: id))) == [.creditChanged(UInt32.max)])
        #expect(Self.fatal(pair.client.received(.window(1, channel: id))) == .flowControl)
        // The server was granted 8 by the open.
        #expect(Self.fatal(pair.server.received(.window(UInt32.max - 7, channel: id))) == .flowControl)
    }

    @Test func writesAreCutToCreditAndThePeersLimit() throws {
        var pair = Pair(maxDataPayload: 3)
        let id = try pair.open(Self.echo, accept: Self.accept(8))
        var pending = ByteBuffer(string: "0123456789")
        var lengths: [Int] = []
        while let frame = try pair.client.send(id, data: &pending) { lengths.append(frame.payload.readableBytes) }
        #expect(lengths == [3, 3, 2])
        #expect(pending.readableBytes == 2)  // waits for credit
        #expect(Array(pair.client.received(.window(1, channel: id))) == [.creditChanged(1)])
        let frameSent = try pair.client.send(id, data: &pending)
        let frame = try #require(frameSent)
        #expect(frame == .data(ByteBuffer(string: "8"), channel: id))
        #expect(try pair.client.send(id, data: &pending) == nil)
        #expect(pending == ByteBuffer(string: "9"))
    }

    // MARK: - Streams, messages, state

    @Test func dataOnAStreamTheServiceDoesNotHaveIsBadFrame() throws {
        var pair = Pair()
        let exec = try pair.open(Self.exec, accept: Self.accept(2, .exec(pid: 1)))
        let echo = try pair.open(Self.echo, accept: Self.accept(8))
        let byte = ByteBuffer(string: "x")
        #expect(Self.fatal(pair.server.received(.data(byte, stream: .output, channel: exec))) == .badFrame)
        #expect(Self.fatal(pair.client.received(.data(byte, stream: .main, channel: exec))) == .badFrame)
        #expect(
            Self.fatal(pair.client.received(.data(byte, stream: Frame.Stream(rawValue: 3), channel: exec))) == .badFrame
        )
        #expect(
            Array(pair.client.received(.data(byte, stream: .output, channel: exec))) == [.deliver(.data(.output, byte))]
        )
        #expect(
            Array(pair.client.received(.data(byte, stream: .error, channel: exec))) == [.deliver(.data(.error, byte))])
        #expect(Self.fatal(pair.client.received(.data(byte, stream: .error, channel: echo))) == .badFrame)
        #expect(Self.fatal(pair.server.received(.data(byte, stream: .error, channel: echo))) == .badFrame)
        var pending = byte
        #expect(throws: ChannelStateMachine.Refusal.notAllowed) { try pair.server.send(exec, data: &pending) }
        #expect(throws: ChannelStateMachine.Refusal.notAllowed) {
            try pair.client.send(exec, data: &pending, on: .output)
        }
        #expect(try pair.server.send(exec, data: &pending, on: .error) == .data(byte, stream: .error, channel: exec))
    }

    @Test func aMessageOfAnotherServiceFailsOnlyTheChannel() throws {
        var pair = Pair()
        let id = try pair.open(Self.echo, accept: Self.accept(8))
        let error = ProtocolError(.unexpectedMessage, "'chat.who' is not a message the client sends on echo channels")
        #expect(
            Array(pair.server.received(ChannelMessage.chatWho.frame(channel: id))) == [
                .channelFailed(error), .write(.eof(channel: id)), .write(ChannelMessage.fail(error).frame(channel: id)),
                .write(.close(channel: id)),
            ])
        #expect(pair.server.channel(id)?.state == .closing)
        let other = try pair.open(Self.echo, accept: Self.accept(8))
        let frame = ChannelMessage.execExit(
            .init(status: 0, signal: nil, signalNumber: nil, timedOut: false, duration: 0)
        )
        .frame(channel: other)
        let actions = Array(pair.client.received(frame))
        #expect(actions.count == 2)
        #expect(actions.last == .write(.close(channel: other)))
        #expect(pair.client.channel(other)?.state == .closing)
    }

    @Test func framesBeforeAcceptAreUnexpected() throws {
        var pair = Pair()
        let (id, open) = try pair.client.open(Self.echo)
        _ = pair.server.received(open)
        for frame in [
            Frame.data(ByteBuffer(string: "x"), channel: id), .window(1, channel: id), .eof(channel: id),
            .close(channel: id), ChannelMessage.chatWho.frame(channel: id),
        ] {
            var server = pair.server
            #expect(Self.fatal(server.received(frame)) == .unexpectedMessage, "\(frame.kind)")
            var client = pair.client
            #expect(Self.fatal(client.received(frame)) == .unexpectedMessage, "\(frame.kind)")
        }
        #expect(throws: ChannelStateMachine.Refusal.notAccepted) { try pair.client.send(id, .chatWho) }
        var pending = ByteBuffer(string: "x")
        #expect(throws: ChannelStateMachine.Refusal.notAccepted) { try pair.client.send(id, data: &pending) }
        #expect(throws: ChannelStateMachine.Refusal.notAllowed) { try pair.server.sendClose(id) }
    }

    @Test func eofAndCloseBeforeAcceptWaitForIt() throws {
        var pair = Pair()
        let (id, open) = try pair.client.open(Self.echo)
        _ = pair.server.received(open)
        #expect(try pair.client.sendEOF(id) == nil)
        #expect(try pair.client.sendClose(id) == nil)
        let accept = Self.accept(8)
        let acceptFrame = ChannelMessage.accept(accept).frame(channel: id)
        #expect(Array(try pair.server.accept(id, accept)) == [.write(acceptFrame)])
        #expect(
            Array(pair.client.received(acceptFrame)) == [
                .accepted(accept), .write(.eof(channel: id)), .write(.close(channel: id)),
            ])
        #expect(pair.client.channel(id)?.state == .closing)
    }

    @Test func aCloseBeforeARefusalIsDropped() throws {
        var pair = Pair()
        let (id, open) = try pair.client.open(Self.echo)
        _ = pair.server.received(open)
        #expect(try pair.client.sendClose(id) == nil)
        let error = ProtocolError(.notPermitted, "no")
        let refuse = try pair.server.refuse(id, error)
        #expect(!pair.server.isInUse(id))
        #expect(Array(pair.client.received(refuse)) == [.refused(error)])
        #expect(!pair.client.isInUse(id))
    }

    @Test func aSecondEOFAndDataAfterEOFAreUnexpected() throws {
        var pair = Pair()
        let id = try pair.open(Self.echo, accept: Self.accept(8))
        #expect(Array(pair.server.received(.eof(channel: id))) == [.deliver(.eof)])
        var server = pair.server
        #expect(Self.fatal(server.received(.eof(channel: id))) == .unexpectedMessage)
        #expect(Self.fatal(pair.server.received(.data(ByteBuffer(string: "x"), channel: id))) == .unexpectedMessage)
        // After its own eof a side sends no data; window frames for it are ignored.
        #expect(try pair.client.sendEOF(id) == .eof(channel: id))
        var pending = ByteBuffer(string: "x")
        #expect(throws: ChannelStateMachine.Refusal.outputClosed) { try pair.client.send(id, data: &pending) }
        #expect(pair.client.received(.window(UInt32.max, channel: id)).isEmpty)
    }
}

/// Channel ids and the channel limit (docs/design/protocol-2.md sections 3.3 and 5.5).
@Suite struct ChannelTableTests {
    typealias Pair = ChannelStateMachineTests.Pair
    static let echo = ChannelStateMachineTests.echo

    @Test func anOpenBeyondMaxChannelsIsRefusedAndLeavesTheIdFree() throws {
        var pair = Pair(maxChannels: 2)
        _ = try pair.open(Self.echo, accept: .init(window: 8, details: .echo))
        _ = try pair.open(Self.echo, accept: .init(window: 8, details: .echo))
        #expect(throws: ChannelStateMachine.Refusal.tooManyChannels) { try pair.client.open(Self.echo) }
        // A client that ignores the limit: the server refuses without taking the id.
        let open = ChannelMessage.open(Self.echo).frame(channel: 3)
        let actions = Array(pair.server.received(open))
        guard case .write(let refuse) = try #require(actions.first), actions.count == 1 else {
            Issue.record("\(actions)")
            return
        }
        #expect(refuse.channel == 3)
        guard case .refuse(let error) = try ChannelMessage(frame: refuse, service: .echo) else {
            Issue.record("not a refusal: \(refuse)")
            return
        }
        #expect(error.code == .tooManyChannels)
        #expect(!pair.server.isInUse(3))
        #expect(pair.server.count == 2)
        #expect(ChannelStateMachineTests.fatal(pair.server.received(.eof(channel: 3))) == .badChannel)
    }

    @Test func anUnknownServiceIsRefused() throws {
        var server = ChannelTable(role: .server, limits: ChannelLimits(), peerMaxDataPayload: 1024)
        let open = ChannelMessage.Open(window: 0, parameters: .unknown(service: "teleport"))
        let actions = Array(server.received(ChannelMessage.open(open).frame(channel: 5)))
        guard case .write(let refuse) = try #require(actions.first), actions.count == 1,
            case .refuse(let error) = try ChannelMessage(frame: refuse, service: nil)
        else {
            Issue.record("\(actions)")
            return
        }
        #expect(error.code == .unknownService)
        #expect(server.count == 0)
    }

    @Test func idsCountUpSkipInUseAndWrap() throws {
        var pair = Pair(maxChannels: 8)
        let first = try pair.open(Self.echo, accept: .init(window: 8, details: .echo))
        let second = try pair.open(Self.echo, accept: .init(window: 8, details: .echo))
        let third = try pair.open(Self.echo, accept: .init(window: 8, details: .echo))
        #expect([first, second, third] == [1, 2, 3])
        // Channel 1 ends: the client closes, the server answers.
        let close = try pair.client.sendClose(first)
        pair.toServer.append(try #require(close))
        pair.deliverToServer()
        pair.deliverToClient()
        #expect(!pair.client.isInUse(1) && !pair.server.isInUse(1))
        #expect(try pair.client.open(Self.echo).id == 4)  // counts up, not back to 1
        pair.client.nextID = ChannelTable.lastID
        #expect(try pair.client.open(Self.echo).id == 0x7FFF_FFFF)
        #expect(try pair.client.open(Self.echo).id == 1)  // wrapped; 1 is free again
        #expect(try pair.client.open(Self.echo).id == 5)  // 2, 3 and 4 are in use
    }

    @Test func anIdIsReusedAfterFreeAndNeverWhileInUse() throws {
        var pair = Pair()
        let id = try pair.open(Self.echo, accept: .init(window: 8, details: .echo))
        let again = ChannelMessage.open(Self.echo).frame(channel: id)
        var server = pair.server
        #expect(ChannelStateMachineTests.fatal(server.received(again)) == .badChannel)
        // The server closes; the client answers; the id is free on both sides and opens again.
        let close = try pair.server.sendClose(id)
        #expect(pair.server.isInUse(id))  // until the client's close arrives
        pair.toClient.append(try #require(close))
        pair.deliverToClient()
        #expect(!pair.client.isInUse(id))
        pair.deliverToServer()
        #expect(!pair.server.isInUse(id))
        #expect(Array(pair.server.received(again)) == [.openRequested(Self.echo)])
    }

    @Test func framesForIdsNotInUseOrReservedAreBadChannel() {
        var pair = Pair()
        for frame in [
            Frame.data(ByteBuffer(string: "x"), channel: 9), .window(1, channel: 9), .eof(channel: 9),
            .close(channel: 9), ChannelMessage.chatWho.frame(channel: 9), .eof(channel: 0x8000_0000),
            ChannelMessage.open(Self.echo).frame(channel: 0x8000_0000),
        ] {
            #expect(ChannelStateMachineTests.fatal(pair.server.received(frame)) == .badChannel, "\(frame)")
        }
        #expect(
            ChannelStateMachineTests.fatal(pair.client.received(ChannelMessage.open(Self.echo).frame(channel: 9)))
                == .unexpectedMessage)
    }
}
