import PorterProtocol

/// Who is in which chat room: pure state, no I/O, no locking.
///
/// Names are unique within a room. Rooms exist while they have members.
struct ChatRoster: Sendable {
    /// Identifies one membership.
    struct MemberID: Hashable, Sendable {
        let value: UInt64
    }

    private var rooms: [String: [String: MemberID]] = [:]
    private var members: [MemberID: (room: String, name: String)] = [:]
    private let maxRooms: Int
    private let maxMembersPerRoom: Int

    init(maxRooms: Int, maxMembersPerRoom: Int) {
        self.maxRooms = maxRooms
        self.maxMembersPerRoom = maxMembersPerRoom
    }

    /// The number of rooms with at least one member.
    var roomCount: Int { rooms.count }

    /// Adds `id` to `room` under `name`.
    /// - Parameter checkingName: false for a name the server made itself (a classic client's `host:port`).
    mutating func join(_ id: MemberID, room: String, name: String, checkingName: Bool = true) throws(ProtocolError) {
        if let problem = ChatName.problem(with: room, what: "room name") { throw problem }
        if checkingName, let problem = ChatName.problem(with: name) { throw problem }
        let occupants = rooms[room] ?? [:]
        if occupants.isEmpty, rooms.count >= maxRooms {
            throw ProtocolError(.limitExceeded, "the server has reached its limit of \(maxRooms) chat rooms")
        }
        guard occupants.count < maxMembersPerRoom else {
            throw ProtocolError(.limitExceeded, "room '\(room)' is full (\(maxMembersPerRoom) members)")
        }
        guard occupants[name] == nil else {
            throw ProtocolError(.nameTaken, "the name '\(name)' is already taken in room '\(room)'; choose another")
        }
        rooms[room, default: [:]][name] = id
        members[id] = (room, name)
    }

    /// Removes `id` from its room.
    ///
    /// - Returns: the room and name it had, or `nil` if it was not a member.
    @discardableResult
    mutating func leave(_ id: MemberID) -> (room: String, name: String)? {
        guard let member = members.removeValue(forKey: id) else { return nil }
        rooms[member.room]?[member.name] = nil
        if rooms[member.room]?.isEmpty == true { rooms[member.room] = nil }
        return member
    }

    /// Gives `id` a new name in its room.
    ///
    /// - Returns: the room and the old name.
    mutating func rename(_ id: MemberID, to newName: String) throws(ProtocolError) -> (room: String, oldName: String) {
        guard let member = members[id] else { throw ProtocolError(.unexpectedMessage, "not in a chat room") }
        if let problem = ChatName.problem(with: newName) { throw problem }
        guard newName != member.name else { return (member.room, member.name) }
        guard rooms[member.room]?[newName] == nil else {
            throw ProtocolError(.nameTaken, "the name '\(newName)' is already taken in room '\(member.room)'")
        }
        rooms[member.room]?[member.name] = nil
        rooms[member.room]?[newName] = id
        members[id] = (member.room, newName)
        return (member.room, member.name)
    }

    /// The room and name of `id`.
    func member(_ id: MemberID) -> (room: String, name: String)? {
        members[id]
    }

    /// The member called `name` in `room`.
    func member(named name: String, in room: String) -> MemberID? {
        rooms[room]?[name]
    }

    /// Everyone in `room`.
    func memberIDs(in room: String) -> [MemberID] {
        rooms[room].map { Array($0.values) } ?? []
    }

    /// The sorted names in `room`.
    func names(in room: String) -> [String] {
        rooms[room].map { $0.keys.sorted() } ?? []
    }

    /// Every room and its sorted member names.
    func allRooms() -> [(room: String, names: [String])] {
        rooms.keys.sorted().map { ($0, names(in: $0)) }
    }
}
