import NIOCore

/// After `ready`: channel 0's connection messages and every other channel's frames.
extension ConnectionStateMachine {
    mutating func receiveOnChannels(_ frame: Frame, _ actions: inout Actions) {
        guard frame.channel == 0 else {
            guard var table = channels.take() else { return }
            let channelActions = table.received(frame)
            channels = table
            for action in channelActions {
                switch action {
                case .write(let frame): actions.append(.send(frame))
                case .fail(let error): fail(error, &actions)
                default: actions.append(.channel(frame.channel, action))
                }
            }
            closeIfDrained(&actions)
            return
        }
        let message: ConnectionMessage
        do {
            message = try ConnectionMessage(frame: frame)
        } catch {
            fail(error, &actions)
            return
        }
        switch message {
        case .keepalive:
            // Either way: its only effect, pushing the idle deadline forward, has happened.
            return
        case .ping(let ping):
            actions.append(.send(ConnectionMessage.pong(ping).frame))
            return
        default:
            break
        }
        if role == .client {
            receiveAsClient(message, &actions)
            return
        }
        switch message {
        case .keepalive, .ping:
            break
        case .global(let request):
            // Section 4.4: local code answers each, in order; an unknown one too, so that answers keep the order.
            let limit = announced?.channels.maxGlobalRequests ?? ChannelLimits.defaultMaxGlobalRequests
            guard unansweredGlobals < limit else {
                fail(
                    ProtocolError(
                        .limitExceeded,
                        "more than \(limit) global requests unanswered at once, the most this server allows"),
                    &actions)
                return
            }
            unansweredGlobals += 1
            actions.append(.global(request))
        case .error(let body):
            // The client is closing the connection.
            fail(
                ProtocolError(.unexpectedMessage, "the client ended the connection: \(body.message.prefix(256))"),
                &actions)
        case .hello, .welcome, .auth, .ready, .pong, .globalOK, .globalFail, .shutdown:
            fail(
                ProtocolError(.unexpectedMessage, "'\(message.type)' is not a message a client sends after ready"),
                &actions)
        }
    }

    /// A connection message from the server.
    private mutating func receiveAsClient(_ message: ConnectionMessage, _ actions: inout Actions) {
        switch message {
        case .keepalive, .ping:
            break
        case .pong(let pong):
            actions.append(.pong(pong.id))
        case .error(let body):
            end(body.protocolError, &actions)
        case .shutdown(let notice):
            // The server lets the channels in use finish within the grace, then closes the connection; the
            // client opens nothing new meanwhile (section 4.5).
            shutdownAnnounced = true
            actions.append(.shutdownAnnounced(grace: notice.grace))
        case .globalOK(let answer):
            answered(global: answer.id, nil, &actions)
        case .globalFail(let answer):
            answered(global: answer.id, answer.error, &actions)
        case .hello, .welcome, .auth, .ready, .global:
            fail(
                ProtocolError(.unexpectedMessage, "'\(message.type)' is not a message a server sends after ready"),
                &actions)
        }
    }

    /// Client: the answer to a global request, which must be the oldest unanswered one.
    private mutating func answered(global id: UInt64, _ error: ProtocolError?, _ actions: inout Actions) {
        guard sentGlobals.first == id else {
            fail(
                ProtocolError(
                    .unexpectedMessage,
                    sentGlobals.isEmpty
                        ? "an answer to global request \(id), and none is unanswered"
                        : "an answer to global request \(id) before the one to \(sentGlobals.first!)"),
                &actions)
            return
        }
        sentGlobals.removeFirst()
        actions.append(.globalAnswered(id, error))
    }

    /// Client: a global request; the `global` frame to write. Its answer comes as ``Action/globalAnswered(_:_:)``.
    ///
    /// - Throws: ``ChannelStateMachine/Refusal/closed`` unless ready; ``ChannelStateMachine/Refusal/notAllowed``
    ///   on a server, or with the server's `maxGlobalRequests` unanswered (wait for an answer).
    public mutating func send(global request: ConnectionMessage.GlobalRequest) throws(ChannelStateMachine.Refusal)
        -> Frame
    {
        guard isReady, channels != nil else { throw .closed }
        let limit = announced?.channels.maxGlobalRequests ?? ChannelLimits.defaultMaxGlobalRequests
        guard role == .client, sentGlobals.count < limit else { throw .notAllowed }
        sentGlobals.append(request.id)
        return ConnectionMessage.global(request).frame
    }

    /// Server: the answer to the oldest global request delivered (``Action/global(_:)``): `global.ok` without an
    /// `error`, else `global.fail`. `nil` once the connection is closed.
    public mutating func answer(global id: UInt64, error: ProtocolError?) -> Frame? {
        guard isReady, role == .server, unansweredGlobals > 0 else { return nil }
        unansweredGlobals -= 1
        if let error { return ConnectionMessage.globalFail(.init(id: id, error: error)).frame }
        return ConnectionMessage.globalOK(.init(id: id)).frame
    }

    // MARK: - What the client sends

    /// Client: opens a channel on the next free id (``ChannelTable/open(_:)``): the id and the `open` frame to
    /// write.
    ///
    /// - Throws: ``ChannelStateMachine/Refusal/shuttingDown`` once the server has announced `shutdown`, and what
    ///   ``ChannelTable/open(_:)`` throws.
    public mutating func open(_ open: ChannelMessage.Open) throws(ChannelStateMachine.Refusal) -> (
        id: UInt32, frame: Frame
    ) {
        if shutdownAnnounced, !isClosed { throw .shuttingDown }
        return try withChannels { table throws(ChannelStateMachine.Refusal) in try table.open(open) }
    }

    // MARK: - What either side sends on its channels

    /// Accepts channel `id` (``ChannelTable/accept(_:_:)``): the frames to write.
    public mutating func accept(channel id: UInt32, _ accept: ChannelMessage.Accept)
        throws(ChannelStateMachine.Refusal) -> ChannelStateMachine.Actions
    {
        try withChannels { table throws(ChannelStateMachine.Refusal) in try table.accept(id, accept) }
    }

    /// Refuses channel `id`, which is free at once (``ChannelTable/refuse(_:_:)``): the frame to write, and, if
    /// it was the last channel of a connection shutting down, the connection's end.
    public mutating func refuse(channel id: UInt32, _ error: ProtocolError) throws(ChannelStateMachine.Refusal)
        -> Actions
    {
        let frame = try withChannels { table throws(ChannelStateMachine.Refusal) in try table.refuse(id, error) }
        var actions = Actions()
        actions.append(.send(frame))
        closeIfDrained(&actions)
        return actions
    }

    /// The next data frame of `pending` on channel `id`, within its credit (``ChannelTable/send(_:data:on:)``).
    public mutating func send(channel id: UInt32, data pending: inout ByteBuffer, on stream: Frame.Stream)
        throws(ChannelStateMachine.Refusal) -> Frame?
    {
        try withChannels { table throws(ChannelStateMachine.Refusal) in
            try table.send(id, data: &pending, on: stream)
        }
    }

    /// A message on channel `id` (``ChannelTable/send(_:_:payload:)``).
    public mutating func send(channel id: UInt32, _ message: ChannelMessage, payload: ByteBuffer? = nil)
        throws(ChannelStateMachine.Refusal) -> Frame
    {
        try withChannels { table throws(ChannelStateMachine.Refusal) in try table.send(id, message, payload: payload) }
    }

    /// Eof on channel `id`, or `nil` when there is none to send (``ChannelTable/sendEOF(_:)``).
    public mutating func sendEOF(channel id: UInt32) throws(ChannelStateMachine.Refusal) -> Frame? {
        try withChannels { table throws(ChannelStateMachine.Refusal) in try table.sendEOF(id) }
    }

    /// Close on channel `id`, or `nil` when there is none to send (``ChannelTable/sendClose(_:)``).
    public mutating func sendClose(channel id: UInt32) throws(ChannelStateMachine.Refusal) -> Frame? {
        try withChannels { table throws(ChannelStateMachine.Refusal) in try table.sendClose(id) }
    }

    /// Local code consumed `bytes` of channel `id`'s data: a window frame to write, if one is due.
    public mutating func consumed(channel id: UInt32, bytes: Int) -> Frame? {
        try? withChannels { table in table.consumed(id, bytes) }
    }

    /// The channel limits announced in `welcome`.
    public var channelLimits: ChannelLimits? { announced?.channels }

    /// How many channels are in use.
    public var channelCount: Int { channels?.count ?? 0 }

    /// Runs `body` on the channel table, moved out so that changing it copies nothing.
    private mutating func withChannels<Result>(
        _ body: (inout ChannelTable) throws(ChannelStateMachine.Refusal) -> Result
    ) throws(ChannelStateMachine.Refusal) -> Result {
        guard !isClosed, var table = channels.take() else { throw .closed }
        defer { channels = table }
        return try body(&table)
    }
}
