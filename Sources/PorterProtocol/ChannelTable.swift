import NIOCore

/// The channels of one connection on one side: the ids in use, each with its ``ChannelStateMachine``
/// (docs/PROTOCOL.md sections 2.3 and 6.2).
///
/// The client allocates every id, from 1 to 0x7FFFFFFF: it counts up, skips ids in use and wraps. An id is in use
/// from the `open` until the channel is free — on the server when it sends `refuse`, on the client when it receives
/// it, otherwise on each side once it has both sent and received `close` — and may then be opened again. An `open`
/// on an id in use, any other frame for an id not in use, or an id from 0x80000000 up is fatal `bad-channel`; an
/// `open` beyond ``maxChannels`` is refused `too-many-channels` and leaves the id free.
public struct ChannelTable: Sendable {
    /// The first channel id a client allocates (0 is the connection).
    public static let firstID: UInt32 = 1
    /// The last channel id a client allocates; the ids above are reserved for channels a server may open later.
    public static let lastID: UInt32 = Frame.firstReservedChannel - 1

    /// Which end this table runs on.
    public let role: ChannelStateMachine.Role
    /// Channels the client may have in use at once: the server's ``ChannelLimits/maxChannels``.
    public let maxChannels: Int
    /// The peer's `maxDataPayload`: the longest data frame this side sends.
    public let peerMaxDataPayload: Int
    private var channels: [UInt32: ChannelStateMachine] = [:]
    /// Server: once set, every `open` is refused with this error (the server is shutting down).
    public var refusingOpens: ProtocolError?
    /// Client: where the search for a free id starts (internal so that tests can start it near the wrap).
    var nextID = ChannelTable.firstID

    /// A table for `role` under the server's `limits`, sending data frames of at most `peerMaxDataPayload` bytes.
    public init(role: ChannelStateMachine.Role, limits: ChannelLimits, peerMaxDataPayload: Int) {
        precondition(peerMaxDataPayload > 0, "the peer's maxDataPayload must be positive")
        self.role = role
        self.maxChannels = limits.maxChannels
        self.peerMaxDataPayload = peerMaxDataPayload
    }

    /// How many ids are in use.
    public var count: Int { channels.count }

    /// Whether `id` is in use.
    public func isInUse(_ id: UInt32) -> Bool { channels[id] != nil }

    /// The machine of channel `id`, if it is in use.
    public func channel(_ id: UInt32) -> ChannelStateMachine? { channels[id] }

    // MARK: - Client

    /// Client: opens a channel on the next free id.
    ///
    /// - Returns: the id and the `open` frame to write.
    /// - Throws: ``ChannelStateMachine/Refusal/tooManyChannels`` with ``maxChannels`` in use (wait for one to
    ///   free); ``ChannelStateMachine/Refusal/notAllowed`` on a server, for an unknown service or a window beyond
    ///   2^32−1.
    public mutating func open(_ open: ChannelMessage.Open) throws(ChannelStateMachine.Refusal) -> (
        id: UInt32, frame: Frame
    ) {
        guard role == .client, let service = open.parameters.service, let window = UInt32(exactly: open.window)
        else { throw .notAllowed }
        guard channels.count < maxChannels else { throw .tooManyChannels }
        // maxChannels is at most 2^31−1, the number of ids, so a free one exists.
        var id = nextID
        while channels[id] != nil { id = Self.id(after: id) }
        nextID = Self.id(after: id)
        channels[id] = ChannelStateMachine(
            client: id, service: service, window: window, peerMaxDataPayload: peerMaxDataPayload)
        return (id, ChannelMessage.open(open).frame(channel: id))
    }

    private static func id(after id: UInt32) -> UInt32 {
        id >= lastID ? firstID : id + 1
    }

    // MARK: - Frames from the peer

    /// A frame the peer sent on a channel from 1 up.
    public mutating func received(_ frame: Frame) -> ChannelStateMachine.Actions {
        let id = frame.channel
        var actions = ChannelStateMachine.Actions()
        guard id >= Self.firstID, id <= Self.lastID else {
            actions.append(.fail(ProtocolError(.badChannel, "channel id \(id) is not one a client allocates")))
            return actions
        }
        if let received = try? withChannel(id, { channel in channel.received(frame) }) {
            return received
        }
        guard frame.kind == .control else {
            actions.append(.fail(notInUse(id)))
            return actions
        }
        let message: ChannelMessage
        do {
            message = try ChannelMessage(frame: frame, service: nil)
        } catch  where error.code == .badMessage {
            actions.append(.fail(error))
            return actions
        } catch {
            actions.append(.fail(notInUse(id)))
            return actions
        }
        guard case .open(let open) = message else {
            actions.append(.fail(notInUse(id)))
            return actions
        }
        guard role == .server else {
            actions.append(.fail(ProtocolError(.unexpectedMessage, "an open from the server on channel \(id)")))
            return actions
        }
        receivedOpen(open, id: id, &actions)
        return actions
    }

    private mutating func receivedOpen(
        _ open: ChannelMessage.Open, id: UInt32, _ actions: inout ChannelStateMachine.Actions
    ) {
        if let refusingOpens {
            actions.append(.write(ChannelMessage.refuse(refusingOpens).frame(channel: id)))
            return
        }
        guard let service = open.parameters.service else {
            let error = ProtocolError(
                .unknownService, "this server has no service '\(open.parameters.serviceName.prefix(64))'")
            actions.append(.write(ChannelMessage.refuse(error).frame(channel: id)))
            return
        }
        guard channels.count < maxChannels else {
            let error = ProtocolError(
                .tooManyChannels, "the client already has \(maxChannels) channels open, the most this server allows")
            actions.append(.write(ChannelMessage.refuse(error).frame(channel: id)))
            return
        }
        // The message's validation has checked the window against 0...2^32−1.
        channels[id] = ChannelStateMachine(
            server: id, service: service, window: UInt32(open.window), peerMaxDataPayload: peerMaxDataPayload)
        actions.append(.openRequested(open))
    }

    private func notInUse(_ id: UInt32) -> ProtocolError {
        ProtocolError(.badChannel, "a frame on channel \(id), which is not in use")
    }

    // MARK: - What this side sends

    /// Server: accepts channel `id` (``ChannelStateMachine/accept(_:)``).
    public mutating func accept(_ id: UInt32, _ accept: ChannelMessage.Accept) throws(ChannelStateMachine.Refusal)
        -> ChannelStateMachine.Actions
    {
        try withChannel(id) { channel throws(ChannelStateMachine.Refusal) in try channel.accept(accept) }
    }

    /// Server: refuses channel `id`, which is free at once (``ChannelStateMachine/refuse(_:)``).
    public mutating func refuse(_ id: UInt32, _ error: ProtocolError) throws(ChannelStateMachine.Refusal) -> Frame {
        try withChannel(id) { channel throws(ChannelStateMachine.Refusal) in try channel.refuse(error) }
    }

    /// The next data frame of `pending` on channel `id` (``ChannelStateMachine/send(data:on:)``).
    public mutating func send(_ id: UInt32, data pending: inout ByteBuffer, on stream: Frame.Stream = .main)
        throws(ChannelStateMachine.Refusal) -> Frame?
    {
        try withChannel(id) { channel throws(ChannelStateMachine.Refusal) in
            try channel.send(data: &pending, on: stream)
        }
    }

    /// A message on channel `id` (``ChannelStateMachine/send(_:payload:)``).
    public mutating func send(_ id: UInt32, _ message: ChannelMessage, payload: ByteBuffer? = nil)
        throws(ChannelStateMachine.Refusal) -> Frame
    {
        try withChannel(id) { channel throws(ChannelStateMachine.Refusal) in
            try channel.send(message, payload: payload)
        }
    }

    /// Eof on channel `id` (``ChannelStateMachine/sendEOF()``).
    public mutating func sendEOF(_ id: UInt32) throws(ChannelStateMachine.Refusal) -> Frame? {
        try withChannel(id) { channel throws(ChannelStateMachine.Refusal) in channel.sendEOF() }
    }

    /// Close on channel `id` (``ChannelStateMachine/sendClose()``).
    public mutating func sendClose(_ id: UInt32) throws(ChannelStateMachine.Refusal) -> Frame? {
        try withChannel(id) { channel throws(ChannelStateMachine.Refusal) in try channel.sendClose() }
    }

    /// Local code consumed `bytes` of channel `id`'s data (``ChannelStateMachine/consumed(_:)``); nothing for an
    /// id no longer in use.
    public mutating func consumed(_ id: UInt32, _ bytes: Int) -> Frame? {
        try? withChannel(id) { channel in channel.consumed(bytes) }
    }

    /// Runs `body` on channel `id` where it lies in the table (one lookup, and changing it copies nothing), then
    /// drops the channel if it is free.
    private mutating func withChannel<Result>(
        _ id: UInt32, _ body: (inout ChannelStateMachine) throws(ChannelStateMachine.Refusal) -> Result
    ) throws(ChannelStateMachine.Refusal) -> Result {
        guard let index = channels.index(forKey: id) else { throw .closed }
        defer { if channels.values[index].state == .free { channels.remove(at: index) } }
        return try body(&channels.values[index])
    }
}
