import NIOCore
import Porter
import PorterProtocol
import Testing

@Suite struct ChatTests {
    /// Reads events until one matches, failing on the way if the session ends.
    private func nextChatEvent(_ session: ChatSession) async throws -> ChatSession.Event {
        guard let event = try await session.nextEvent() else { throw TestFailure("chat ended early") }
        return event
    }

    @Test func threeClientsChat() async throws {
        try await withTestServer { server in
            try await server.withClient { ann in
                let annChat = try await ann.joinChat(room: "lobby", name: "ann")
                #expect(annChat.members == ["ann"])
                try await server.withClient { bob in
                    let bobChat = try await bob.joinChat(room: "lobby", name: "bob")
                    #expect(bobChat.members == ["ann", "bob"])
                    #expect(try await nextChatEvent(annChat) == .chat(.joined(name: "bob")))
                    try await server.withClient { cat in
                        let catChat = try await cat.joinChat(room: "lobby", name: "cat")
                        #expect(try await nextChatEvent(annChat) == .chat(.joined(name: "cat")))
                        #expect(try await nextChatEvent(bobChat) == .chat(.joined(name: "cat")))

                        try await annChat.sender.say("hello \u{1B}[2J everyone")
                        let said = ChatSession.Event.chat(
                            .message(from: "ann", text: "hello \u{1B}[2J everyone", isPrivate: false))
                        #expect(try await nextChatEvent(bobChat) == said)
                        #expect(try await nextChatEvent(catChat) == said)

                        try await bobChat.sender.sendPrivate(to: "cat", "psst")
                        #expect(
                            try await nextChatEvent(catChat)
                                == .chat(.message(from: "bob", text: "psst", isPrivate: true)))

                        try await catChat.sender.rename(to: "kat")
                        for session in [annChat, bobChat, catChat] {
                            #expect(try await nextChatEvent(session) == .chat(.renamed(from: "cat", to: "kat")))
                        }
                        try await catChat.sender.rename(to: "ann")
                        guard case .refused = try await nextChatEvent(catChat) else {
                            throw TestFailure("rename to a taken name accepted")
                        }
                        try await catChat.sender.sendPrivate(to: "nobody", "hi")
                        guard case .refused = try await nextChatEvent(catChat) else {
                            throw TestFailure("message to nobody accepted")
                        }

                        try await catChat.sender.requestMembers()
                        #expect(
                            try await nextChatEvent(catChat)
                                == .chat(.members(room: "lobby", names: ["ann", "bob", "kat"])))
                        try await catChat.sender.leave()
                        #expect(try await catChat.nextEvent() == nil)
                        // After leaving, the connection serves other requests.
                        _ = try await cat.ping()
                    }
                    #expect(try await nextChatEvent(annChat) == .chat(.left(name: "kat")))
                    #expect(try await nextChatEvent(bobChat) == .chat(.left(name: "kat")))
                }
                // bob disconnected without leaving: ann is still told.
                #expect(try await nextChatEvent(annChat) == .chat(.left(name: "bob")))
            }
        }
    }

    @Test func aTakenNameIsRefusedAndTheConnectionGoesOn() async throws {
        try await withTestServer { server in
            try await server.withClient { first in
                _ = try await first.joinChat(room: "ops", name: "dup")
                try await server.withClient { second in
                    do {
                        _ = try await second.joinChat(room: "ops", name: "dup")
                        Issue.record("duplicate name accepted")
                    } catch let error as PorterError {
                        #expect(error.kind == .refused)
                        #expect(error.code == .nameTaken)
                    }
                    let chat = try await second.joinChat(room: "ops", name: "dup2")
                    #expect(chat.members == ["dup", "dup2"])
                }
            }
        }
    }

    @Test func roomsAreSeparate() async throws {
        try await withTestServer { server in
            try await server.withClient { a in
                let one = try await a.joinChat(room: "one", name: "x")
                try await server.withClient { b in
                    let two = try await b.joinChat(room: "two", name: "x")
                    try await two.sender.say("only in two")
                    try await one.sender.requestMembers()
                    // The first event in room one is the member list, not the message from room two.
                    #expect(try await one.nextEvent() == .chat(.members(room: "one", names: ["x"])))
                }
            }
        }
    }

    /// On version 2 the client bounds the events that wait for a program that stopped reading: past
    /// ``ChatSession/maxWaitingEvents`` it closes the membership's channel, the others are told it left, and the
    /// program learns why once it reads again.
    @Test func aClientThatStopsReadingItsEventsLeavesTheRoom() async throws {
        try await withTestServer { server in
            try await server.withClient { idle in
                let unread = try await idle.joinChat(room: "r", name: "idle")
                try await server.withClient { talker in
                    let session = try await talker.joinChat(room: "r", name: "talker")
                    let sender = session.sender
                    let talking = Task {
                        for number in 0..<(ChatSession.maxWaitingEvents * 4) { try await sender.say("\(number)") }
                    }
                    defer { talking.cancel() }
                    #expect(try await nextChatEvent(session) == .chat(.left(name: "idle")))
                }
                var events = 0
                do {
                    while try await unread.nextEvent() != nil { events += 1 }
                    Issue.record("the membership ended without an error")
                } catch let error as PorterError {
                    #expect(error.code == .slowConsumer)
                }
                // At most those that waited and one the session read ahead before the program stopped. (On a loaded
                // machine the server may remove the member first, its events having fallen a queue behind: fewer.)
                #expect(events <= ChatSession.maxWaitingEvents + 1)
                _ = try await idle.ping()
            }
        }
    }

    /// On version 2 a member that stops reading loses its channel, with `fail` `slow-consumer`, and nothing else:
    /// the others are told it left, and its connection goes on.
    @Test func aMemberThatStopsReadingLosesOnlyItsChannel() async throws {
        let shallow: (inout ServerConfiguration) -> Void = { $0.chat = .init(queueDepth: 8) }
        try await withTestServer(plaintext: true, configure: shallow) { server in
            try await FrameConnection.run(server.endpoint) { slow in
                // Two memberships on the one connection that stops reading: each is removed on its own.
                let memberships: [UInt32: String] = [1: "slow", 3: "slow2"]
                var accepted: Set<UInt32> = []
                for (channel, name) in memberships.sorted(by: { $0.key < $1.key }) {
                    let join = ChannelMessage.open(.init(window: 0, parameters: .chat(.init(room: "r", name: name))))
                    try await slow.send(join.frame(channel: channel))
                    // The first membership hears the second join: read on to the accept.
                    while !accepted.contains(channel) {
                        let frame = try await slow.next()
                        if frame.kind == .control, frame.channel == channel,
                            case .accept = try ChannelMessage(frame: frame, service: .chat)
                        {
                            accepted.insert(channel)
                        }
                    }
                }
                // slow reads nothing more until the server has removed both.
                try await server.withClient { talker in
                    let session = try await talker.joinChat(room: "r", name: "talker")
                    let (sender, line) = (session.sender, String(repeating: "x", count: 4000))
                    let talking = Task {
                        while !Task.isCancelled { try await sender.say(line) }
                    }
                    defer { talking.cancel() }
                    var left: Set<String> = []
                    while left.count < 2 {
                        if case .chat(.left(let name)) = try await nextChatEvent(session) { left.insert(name) }
                    }
                    #expect(left == ["slow", "slow2"])
                }
                // What had reached slow's socket, then each channel's end: eof, the failure, close.
                var failures: [UInt32: ProtocolError] = [:]
                var closed: Set<UInt32> = []
                while closed.count < 2 {
                    let frame = try await slow.next()
                    #expect(memberships[frame.channel] != nil)
                    if frame.kind == .close { closed.insert(frame.channel) }
                    guard frame.kind == .control else { continue }
                    if case .fail(let error) = try ChannelMessage(frame: frame, service: .chat) {
                        failures[frame.channel] = error
                    }
                }
                #expect(failures[1]?.code == .slowConsumer)
                #expect(failures[3]?.code == .slowConsumer)
                for channel in memberships.keys { try await slow.send(.close(channel: channel)) }
                _ = try await slow.openEcho(2, window: 1024)
                try await slow.send(.data(ByteBuffer(string: "still here"), channel: 2))
                #expect(String(buffer: try await slow.next().payload) == "STILL HERE")
            }
            try await waitUntil { server.server.chat.snapshot().isEmpty }
        }
    }
}

@Suite struct ChatServiceTests {
    @Test func aMemberThatStopsReadingIsEvictedAndOthersKeepReceiving() async throws {
        let service = ChatService(configuration: .init(queueDepth: 4))
        let evicted = AsyncStream.makeStream(of: Void.self)
        // slow's queue fills with: fast joined, talker joined, message 0, message 1; message 2 overflows it.
        let slow = try service.join(room: "r", name: "slow") { evicted.continuation.yield() }
        let fast = try service.join(room: "r", name: "fast") {}
        let talker = try service.join(room: "r", name: "talker") {}
        var fastEvents = fast.events.makeAsyncIterator()
        #expect(await fastEvents.next() == .joined(name: "talker"))
        for index in 0..<10 {
            try service.say(talker.id, text: "message \(index)")
            #expect(await fastEvents.next() == .message(from: "talker", text: "message \(index)", isPrivate: false))
            if index == 2 { #expect(await fastEvents.next() == .left(name: "slow")) }
        }
        var evictions = evicted.stream.makeAsyncIterator()
        _ = await evictions.next()
        #expect(service.snapshot().first?.members == ["fast", "talker"])
        // The slow member's queue held at most queueDepth events, then ended.
        var count = 0
        for await _ in slow.events { count += 1 }
        #expect(count == 4)
    }

    @Test func limitsAreEnforced() throws {
        let service = ChatService(configuration: .init(maxMessageLength: 5, maxRooms: 1, maxMembersPerRoom: 1))
        let member = try service.join(room: "a", name: "x") {}
        #expect(throws: ProtocolError.self) { try service.say(member.id, text: "too long") }
        #expect(throws: ProtocolError.self) { try service.join(room: "a", name: "y") {} }
        #expect(throws: ProtocolError.self) { try service.join(room: "b", name: "y") {} }
        service.leave(member.id)
        service.leave(member.id)
        #expect(service.snapshot().isEmpty)
    }
}
