import PorterProtocol

/// Chat rooms shared by every front door: the native protocol's chat channels and the classic chat listener.
///
/// Each member receives its events through a bounded queue of ``Configuration/queueDepth`` events: an
/// `AsyncStream` (``join(room:name:onEvict:)``), or a ``ChatEventSink`` of the front door's own. A member whose
/// queue is full — a client that stopped reading — is removed from its room and its `onEvict` runs (a classic
/// connection is closed; a native member's channel ends with `slow-consumer`), so one slow reader can neither grow
/// server memory nor hold up anyone else. Events are queued while the lock is held, so every member sees the
/// messages of a room in the same order; each event is one ``ChatDelivery`` for all the members it goes to.
public final class ChatService: Sendable {
    /// Limits of the chat service.
    public struct Configuration: Sendable {
        /// Events queued for one member before it counts as a slow reader and is removed.
        public var queueDepth: Int
        /// The longest message text, in UTF-8 bytes.
        public var maxMessageLength: Int
        /// The most rooms that may exist at once.
        public var maxRooms: Int
        /// The most members in one room.
        public var maxMembersPerRoom: Int

        /// Creates a configuration; the defaults suit a busy server.
        public init(
            queueDepth: Int = 256, maxMessageLength: Int = 4096, maxRooms: Int = 1024, maxMembersPerRoom: Int = 1024
        ) {
            self.queueDepth = queueDepth
            self.maxMessageLength = maxMessageLength
            self.maxRooms = maxRooms
            self.maxMembersPerRoom = maxMembersPerRoom
        }
    }

    /// A member's place in a room, returned by ``join(room:name:onEvict:)``.
    public struct Membership: Sendable {
        /// Identifies the member in calls to the service.
        public let id: UInt64
        /// The room joined.
        public let room: String
        /// The name the member joined with.
        public let name: String
        /// The members at the moment of joining, the new one included.
        public let members: [String]
        /// The member's events; the sequence ends when the member leaves or is evicted.
        public let events: AsyncStream<ChatEvent>
    }

    /// What ``join(room:name:checkingName:sink:onEvict:)`` returns: a membership without an event stream.
    struct Seat: Sendable {
        let id: UInt64
        let room: String
        let name: String
        let members: [String]
    }

    private struct Recipient {
        let sink: any ChatEventSink
        let onEvict: @Sendable () -> Void
    }

    /// A member's `AsyncStream` as its sink.
    private struct StreamSink: ChatEventSink {
        let continuation: AsyncStream<ChatEvent>.Continuation

        func deliver(_ delivery: ChatDelivery) -> Bool {
            if case .dropped = continuation.yield(delivery.event) { return false }
            return true
        }

        func finish() {
            continuation.finish()
        }
    }

    private struct State {
        var roster: ChatRoster
        var recipients: [ChatRoster.MemberID: Recipient] = [:]
        var nextID: UInt64 = 1
    }

    /// The service's limits.
    public let configuration: Configuration
    private let state: Locked<State>

    /// Creates an empty chat service.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.state = Locked(
            State(
                roster: ChatRoster(maxRooms: configuration.maxRooms, maxMembersPerRoom: configuration.maxMembersPerRoom)
            )
        )
    }

    /// Joins `room` as `name`; the others are told.
    ///
    /// - Parameter onEvict: called (outside any lock) if the member is removed for reading too slowly; it should
    ///   close the member's connection.
    public func join(room: String, name: String, onEvict: @escaping @Sendable () -> Void) throws(ProtocolError)
        -> Membership
    {
        try join(room: room, name: name, checkingName: true, onEvict: onEvict)
    }

    /// Joins as above; `checkingName` false admits a name the server made itself, such as a classic client's
    /// `host:port`.
    func join(room: String, name: String, checkingName: Bool, onEvict: @escaping @Sendable () -> Void)
        throws(ProtocolError) -> Membership
    {
        let (events, continuation) = AsyncStream.makeStream(
            of: ChatEvent.self, bufferingPolicy: .bufferingOldest(configuration.queueDepth))
        let seat = try join(
            room: room, name: name, checkingName: checkingName, sink: StreamSink(continuation: continuation),
            onEvict: onEvict)
        return Membership(id: seat.id, room: seat.room, name: seat.name, members: seat.members, events: events)
    }

    /// Joins as above, with the member's events going to `sink`, which holds at most ``Configuration/queueDepth``
    /// of them: a front door that writes them on an event loop takes them there, with no task in between.
    func join(
        room: String, name: String, checkingName: Bool, sink: some ChatEventSink,
        onEvict: @escaping @Sendable () -> Void
    ) throws(ProtocolError) -> Seat {
        let (seat, evicted) = try state.withLock { state throws(ProtocolError) in
            let id = ChatRoster.MemberID(value: state.nextID)
            try state.roster.join(id, room: room, name: name, checkingName: checkingName)
            state.nextID += 1
            state.recipients[id] = Recipient(sink: sink, onEvict: onEvict)
            let others = state.roster.memberIDs(in: room).filter { $0 != id }
            let evicted = Self.deliver(.joined(name: name), to: others, in: &state)
            return (Seat(id: id.value, room: room, name: name, members: state.roster.names(in: room)), evicted)
        }
        for callback in evicted { callback() }
        return seat
    }

    /// Says `text` to the member's room.
    public func say(_ member: UInt64, text: String) throws(ProtocolError) {
        try checkLength(text)
        try update(member) { state, id, room, name throws(ProtocolError) in
            Self.deliver(
                .message(from: name, text: text, isPrivate: false),
                to: state.roster.memberIDs(in: room).filter { $0 != id }, in: &state)
        }
    }

    /// Sends `text` to the member called `recipient` in the same room only.
    public func sendPrivate(_ member: UInt64, to recipient: String, text: String) throws(ProtocolError) {
        try checkLength(text)
        try update(member) { state, _, room, name throws(ProtocolError) in
            guard let target = state.roster.member(named: recipient, in: room) else {
                throw ProtocolError(
                    .noSuchUser, "nobody called '\(recipient.prefix(ChatName.maxLength))' is in room '\(room)'")
            }
            return Self.deliver(.message(from: name, text: text, isPrivate: true), to: [target], in: &state)
        }
    }

    /// Renames the member; everyone in the room, the member included, is told.
    public func rename(_ member: UInt64, to newName: String) throws(ProtocolError) {
        try update(member) { state, id, room, _ throws(ProtocolError) in
            let (_, oldName) = try state.roster.rename(id, to: newName)
            guard oldName != newName else { return [] }
            return Self.deliver(.renamed(from: oldName, to: newName), to: state.roster.memberIDs(in: room), in: &state)
        }
    }

    /// Queues the room's member list for the member.
    public func requestMembers(_ member: UInt64) throws(ProtocolError) {
        try update(member) { state, id, room, _ in
            Self.deliver(.members(room: room, names: state.roster.names(in: room)), to: [id], in: &state)
        }
    }

    /// Removes the member from its room and ends its event sequence; the others are told. Safe to call twice.
    public func leave(_ member: UInt64) {
        let evicted = state.withLock { state in
            Self.remove([ChatRoster.MemberID(value: member)], in: &state)
        }
        for callback in evicted { callback() }
    }

    /// Every room and its members, for status pages.
    public func snapshot() -> [(room: String, members: [String])] {
        state.withLock { $0.roster.allRooms().map { ($0.room, $0.names) } }
    }

    private func checkLength(_ text: String) throws(ProtocolError) {
        guard text.utf8.count <= configuration.maxMessageLength else {
            throw ProtocolError(.limitExceeded, "message longer than \(configuration.maxMessageLength) bytes")
        }
    }

    /// Runs `body` for a current member under the lock, then runs the evictions it caused outside it.
    private func update(
        _ member: UInt64,
        _ body: (inout State, ChatRoster.MemberID, String, String) throws(ProtocolError) -> [@Sendable () -> Void]
    ) throws(ProtocolError) {
        let evicted = try state.withLock { state throws(ProtocolError) in
            let id = ChatRoster.MemberID(value: member)
            guard let (room, name) = state.roster.member(id) else {
                throw ProtocolError(.unexpectedMessage, "not in a chat room")
            }
            return try body(&state, id, room, name)
        }
        for callback in evicted { callback() }
    }

    /// Queues `event` for `recipients`; members whose queue is full are evicted.
    ///
    /// - Returns: the eviction callbacks to run once the lock is released.
    private static func deliver(_ event: ChatEvent, to recipients: [ChatRoster.MemberID], in state: inout State)
        -> [@Sendable () -> Void]
    {
        var full: [ChatRoster.MemberID] = []
        let delivery = ChatDelivery(event)
        for id in recipients where state.recipients[id]?.sink.deliver(delivery) == false {
            full.append(id)
        }
        return full.isEmpty ? [] : remove(full, in: &state, evicting: true)
    }

    /// Removes members and tells their rooms, following any evictions that telling causes.
    private static func remove(_ ids: [ChatRoster.MemberID], in state: inout State, evicting: Bool = false)
        -> [@Sendable () -> Void]
    {
        var callbacks: [@Sendable () -> Void] = []
        var pending = ids.map { (id: $0, evicted: evicting) }
        while let (id, evicted) = pending.popLast() {
            guard let (room, name) = state.roster.leave(id), let recipient = state.recipients.removeValue(forKey: id)
            else {
                continue
            }
            recipient.sink.finish()
            if evicted { callbacks.append(recipient.onEvict) }
            let left = ChatDelivery(.left(name: name))
            for other in state.roster.memberIDs(in: room) where state.recipients[other]?.sink.deliver(left) == false {
                pending.append((other, true))
            }
        }
        return callbacks
    }
}
