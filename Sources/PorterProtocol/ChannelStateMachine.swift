import NIOCore

/// The rules of one channel on one side, for either role, as a pure state machine: frames and local
/// requests in, ``Action``s out, no I/O (docs/PROTOCOL.md sections 5.1 to 5.4).
///
/// ```
///  opening ──accept──▶ open ──sent eof──▶ sent-eof ──got eof──┐
///     │                 │                                     ├──▶ both-eof
///     │                 └───got eof──▶ got-eof ───sent eof────┘
///     │          any of these ──sent close──▶ closing ──got close──▶ free
///     │          any of these ──got close (close sent back)──────────▶ free
///     └──refuse──▶ free
/// ```
///
/// It holds the channel's service, the ``InboundWindow`` of the peer's data and the ``OutboundCredit`` for this
/// side's, and checks every frame the peer sends against section 5.3's table: a data frame's stream against the
/// service and its length against the credit, eof and close against the state, a message against the service and
/// its direction. Frames after this side's `close` are discarded unread. A ``ChannelTable`` holds one per id in use.
public struct ChannelStateMachine: Sendable {
    /// The channel id, 1 to 0x7FFFFFFF.
    public let id: UInt32
    /// Which end this machine runs on.
    public let role: Role
    /// The channel's service, from its `open`.
    public let service: ChannelService
    /// The peer's `maxDataPayload`: the longest data frame this side sends.
    public let peerMaxDataPayload: Int
    /// Where the channel is in its life.
    public private(set) var state = State.opening
    /// The credit this side granted for the peer's data, and the bytes held (server: a window of 0 until it
    /// accepts).
    public private(set) var inbound: InboundWindow
    /// The credit the peer granted for this side's data (client: 0 until `accept`).
    public private(set) var outbound: OutboundCredit
    /// Local code sent eof, or (client) close, before the channel was accepted: sent on `accept`.
    private var eofDeferred = false
    private var closeDeferred = false
    /// Server: the channel's result (`exec.exit`, `done`, `fail`) has been sent.
    private var resultSent = false

    /// A client's channel: `open` for `service` granting the server `window` bytes is being sent.
    public init(client id: UInt32, service: ChannelService, window: UInt32, peerMaxDataPayload: Int) {
        self.id = id
        self.role = .client
        self.service = service
        self.peerMaxDataPayload = peerMaxDataPayload
        self.inbound = InboundWindow(window: window)
        self.outbound = OutboundCredit(credit: 0)
    }

    /// A server's channel: the client's `open` for `service` granted `window` bytes.
    public init(server id: UInt32, service: ChannelService, window: UInt32, peerMaxDataPayload: Int) {
        self.id = id
        self.role = .server
        self.service = service
        self.peerMaxDataPayload = peerMaxDataPayload
        self.inbound = InboundWindow(window: 0)
        self.outbound = OutboundCredit(credit: window)
    }

    // MARK: - Frames from the peer

    /// A frame the peer sent on this channel.
    public mutating func received(_ frame: Frame) -> Actions {
        var actions = Actions()
        if state == .free {
            actions.append(.fail(ProtocolError(.badChannel, "a frame on channel \(id), which is not in use")))
            return actions
        }
        if state == .closing {
            // Section 5.3: after this side's close everything but the peer's close is dropped unread.
            if frame.kind == .close {
                state = .free
                actions.append(.closed)
            }
            return actions
        }
        switch frame.kind {
        case .control: receivedControl(frame, &actions)
        case .data: receivedData(frame, &actions)
        case .window: receivedWindow(frame, &actions)
        case .eof: receivedEOF(&actions)
        case .close: receivedClose(&actions)
        }
        return actions
    }

    private mutating func receivedData(_ frame: Frame, _ actions: inout Actions) {
        switch state {
        case .opening:
            actions.append(unexpected("data on channel \(id) before it was accepted"))
        case .gotEOF, .bothEOF:
            actions.append(unexpected("data on channel \(id) after the peer's eof"))
        case .open, .sentEOF:
            guard service.carries(frame.stream, from: role.peer) else {
                actions.append(
                    .fail(
                        ProtocolError(
                            .badFrame,
                            "data on stream \(frame.stream.rawValue) of \(service.rawValue) channel \(id), "
                                + "which the \(role.peer) does not send")))
                return
            }
            do {
                try inbound.received(frame.payload.readableBytes)
            } catch {
                actions.append(.fail(error))
                return
            }
            actions.append(.deliver(.data(frame.stream, frame.payload)))
        case .closing, .free:
            break
        }
    }

    private mutating func receivedWindow(_ frame: Frame, _ actions: inout Actions) {
        guard let increment = frame.windowCredit, increment > 0 else {
            actions.append(.fail(ProtocolError(.badFrame, "a window frame must grant 1 to 2^32−1 bytes")))
            return
        }
        switch state {
        case .opening:
            actions.append(unexpected("a window frame on channel \(id) before it was accepted"))
        case .open, .gotEOF:
            do {
                try outbound.granted(increment)
            } catch {
                actions.append(.fail(error))
                return
            }
            actions.append(.creditChanged(outbound.credit))
        case .sentEOF, .bothEOF, .closing, .free:
            // This side sends no more data: credit is of no use.
            break
        }
    }

    private mutating func receivedEOF(_ actions: inout Actions) {
        switch state {
        case .opening:
            actions.append(unexpected("eof on channel \(id) before it was accepted"))
        case .open:
            state = .gotEOF
            actions.append(.deliver(.eof))
        case .sentEOF:
            state = .bothEOF
            actions.append(.deliver(.eof))
        case .gotEOF, .bothEOF:
            actions.append(unexpected("a second eof on channel \(id)"))
        case .closing, .free:
            break
        }
    }

    private mutating func receivedClose(_ actions: inout Actions) {
        switch state {
        case .opening:
            actions.append(unexpected("close on channel \(id) before it was accepted"))
        case .open, .sentEOF, .gotEOF, .bothEOF:
            state = .free
            actions.append(.write(.close(channel: id)))
            actions.append(.closed)
        case .closing:
            state = .free
            actions.append(.closed)
        case .free:
            break
        }
    }

    private mutating func receivedControl(_ frame: Frame, _ actions: inout Actions) {
        let message: ChannelMessage
        do {
            message = try ChannelMessage(frame: frame, service: service)
        } catch {
            actions.append(.fail(error))
            return
        }
        switch message {
        case .open:
            // Section 3.3: an open on an id in use; an open reaching a client at all.
            actions.append(
                role == .server
                    ? .fail(ProtocolError(.badChannel, "an open on channel \(id), which is in use"))
                    : unexpected("an open from the server on channel \(id)"))
        case .accept(let accept) where role == .client && state == .opening:
            receivedAccept(accept, &actions)
        case .refuse(let error) where role == .client && state == .opening:
            state = .free
            actions.append(.refused(error))
        case .accept, .refuse:
            actions.append(unexpected("'\(message.type)' on channel \(id), which is not being opened by this side"))
        default:
            guard state != .opening else {
                actions.append(unexpected("'\(message.type)' on channel \(id) before it was accepted"))
                return
            }
            guard message.isSent(by: role.peer, on: service) else {
                failChannel(
                    ProtocolError(
                        .unexpectedMessage,
                        "'\(message.type)' is not a message the \(role.peer) sends on \(service.rawValue) channels"),
                    &actions)
                return
            }
            actions.append(.deliver(.message(message)))
        }
    }

    private mutating func receivedAccept(_ accept: ChannelMessage.Accept, _ actions: inout Actions) {
        outbound = OutboundCredit(credit: UInt32(accept.window))
        state = .open
        actions.append(.accepted(accept))
        if eofDeferred {
            state = .sentEOF
            actions.append(.write(.eof(channel: id)))
        }
        if closeDeferred {
            state = .closing
            actions.append(.write(.close(channel: id)))
        }
    }

    /// Ends the channel after the peer broke its service's rules: the server sends eof (if not yet), `fail` (if
    /// no result was sent) and close, the client its close.
    private mutating func failChannel(_ error: ProtocolError, _ actions: inout Actions) {
        actions.append(.channelFailed(error))
        if role == .server {
            if state == .open || state == .gotEOF { actions.append(.write(.eof(channel: id))) }
            if !resultSent {
                resultSent = true
                actions.append(.write(ChannelMessage.fail(error).frame(channel: id)))
            }
        }
        state = .closing
        actions.append(.write(.close(channel: id)))
    }

    private func unexpected(_ message: String) -> Action {
        .fail(ProtocolError(.unexpectedMessage, message))
    }

    // MARK: - What this side sends

    /// Server: accepts the channel with `accept` (its `window` is the credit granted to the client, 0 to 2^32−1).
    ///
    /// - Returns: the `accept` frame to write, then an eof that local code sent before.
    public mutating func accept(_ accept: ChannelMessage.Accept) throws(Refusal) -> Actions {
        guard role == .server, state == .opening, accept.details.service == service,
            let window = UInt32(exactly: accept.window)
        else { throw .notAllowed }
        inbound = InboundWindow(window: window)
        state = .open
        var actions = Actions()
        actions.append(.write(ChannelMessage.accept(accept).frame(channel: id)))
        if eofDeferred {
            state = .sentEOF
            actions.append(.write(.eof(channel: id)))
        }
        return actions
    }

    /// Server: refuses the channel; the id is free once the returned `refuse` frame is written.
    public mutating func refuse(_ error: ProtocolError) throws(Refusal) -> Frame {
        guard role == .server, state == .opening else { throw .notAllowed }
        state = .free
        return ChannelMessage.refuse(error).frame(channel: id)
    }

    /// Takes the next data frame for `pending` bytes on `stream`: at most the credit and the peer's
    /// `maxDataPayload`. The rest stays in `pending`; `nil` when there is no credit (wait for
    /// ``Action/creditChanged(_:)``) or nothing to send.
    public mutating func send(data pending: inout ByteBuffer, on stream: Frame.Stream = .main) throws(Refusal)
        -> Frame?
    {
        switch state {
        case .opening: throw .notAccepted
        case .sentEOF, .bothEOF: throw .outputClosed
        case .closing, .free: throw .closed
        case .open, .gotEOF: break
        }
        guard service.carries(stream, from: role) else { throw .notAllowed }
        guard let payload = outbound.take(from: &pending, maxDataPayload: peerMaxDataPayload) else { return nil }
        return .data(payload, stream: stream, channel: id)
    }

    /// This side sends no more data: the eof frame to write, or `nil` when it was sent already, the channel is
    /// closing, or (before `accept`) it is deferred until the channel is accepted.
    public mutating func sendEOF() -> Frame? {
        switch state {
        case .opening:
            eofDeferred = true
            return nil
        case .open:
            state = .sentEOF
        case .gotEOF:
            state = .bothEOF
        case .sentEOF, .bothEOF, .closing, .free:
            return nil
        }
        return .eof(channel: id)
    }

    /// A message of the channel's service from this side: the control frame to write. `payload` is the message's
    /// JSON if it was made already (one event sent on many channels is encoded once); it must be `message.payload`.
    public mutating func send(_ message: ChannelMessage, payload: ByteBuffer? = nil) throws(Refusal) -> Frame {
        switch state {
        case .opening: throw .notAccepted
        case .closing, .free: throw .closed
        case .open, .sentEOF, .gotEOF, .bothEOF: break
        }
        guard message.isSent(by: role, on: service) else { throw .notAllowed }
        if message.isResult { resultSent = true }
        guard let payload else { return message.frame(channel: id) }
        assert(payload == message.payload, "a message's JSON made ahead is the message's own")
        return Frame(kind: .control, payload: payload, channel: id)
    }

    /// This side sends nothing more: the close frame to write; `nil` when it was sent already or (client, before
    /// `accept`) it is deferred: sent on `accept`, dropped on `refuse`.
    ///
    /// - Throws: ``Refusal/notAllowed`` on a server that has not answered the `open`: it accepts or refuses.
    public mutating func sendClose() throws(Refusal) -> Frame? {
        switch state {
        case .opening:
            guard role == .client else { throw .notAllowed }
            closeDeferred = true
            return nil
        case .open, .sentEOF, .gotEOF, .bothEOF:
            state = .closing
            return .close(channel: id)
        case .closing, .free:
            return nil
        }
    }

    /// Local code consumed `bytes` of the data delivered to it: the window frame to write, if the peer's credit
    /// has fallen to half the window (section 5.2). None once the peer has sent eof or this side close: the peer
    /// sends no more data.
    public mutating func consumed(_ bytes: Int) -> Frame? {
        let increment = inbound.consumed(bytes)
        guard let increment, state == .open || state == .sentEOF else { return nil }
        return .window(increment, channel: id)
    }
}
