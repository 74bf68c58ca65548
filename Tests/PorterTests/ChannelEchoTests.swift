import NIOCore
import Porter
import PorterProtocol
import Testing

/// The echo service on protocol 2 channels, over sockets: exact bytes within both windows, channels that do not
/// hold each other up, and the window rules enforced by a real server.
@Suite struct ChannelEchoTests {
    static func upper(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { (0x61...0x7A).contains($0) ? $0 - 0x20 : $0 }
    }

    static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    @Test func echoIsExactWithinTheWindowsAndEndsWithEofDoneClose() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                #expect(connection.welcome.limits.channels == ChannelLimits())
                // More than the server's window, so the sender must wait for its grants.
                let sent = Self.randomBytes(700_000, seed: 1)
                let accept = try await connection.openEcho(1, window: 1 << 20)
                var credit = accept.window
                var offset = 0
                var answers: [UInt8] = []
                while offset < sent.count {
                    let length = min(32_768, sent.count - offset)
                    guard credit >= length else {
                        let frame = try await connection.next()
                        switch frame.kind {
                        case .window: credit += Int(frame.windowCredit ?? 0)
                        case .data: answers += frame.payload.readableBytesView
                        default: Issue.record("unexpected \(frame)")
                        }
                        continue
                    }
                    try await connection.send(.data(ByteBuffer(bytes: sent[offset..<offset + length]), channel: 1))
                    credit -= length
                    offset += length
                }
                try await connection.send(.eof(channel: 1))
                var sawEOF = false
                while true {
                    let frame = try await connection.next()
                    #expect(frame.channel == 1)
                    switch frame.kind {
                    case .data:
                        #expect(!sawEOF)
                        answers += frame.payload.readableBytesView
                    case .window: continue
                    case .eof: sawEOF = true
                    case .control:
                        #expect(sawEOF)
                        #expect(try ChannelMessage(frame: frame, service: .echo) == .done(.empty))
                    case .close:
                        try await connection.send(.close(channel: 1))
                        #expect(answers.count == sent.count)
                        #expect(answers == Self.upper(sent))
                        return
                    }
                }
            }
        }
    }

    /// Frames for many channels in one read: the children's flushes wait for the read's end, and every answer
    /// still leaves, each on its own channel, and so do the ends of the channels whose eof came in the same read.
    @Test func framesForManyChannelsInOneReadAreAllAnswered() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                let ids = Array(UInt32(1)...16)
                for id in ids { _ = try await connection.openEcho(id, window: 1 << 16) }
                for round in 0..<3 {
                    let last = round == 2
                    try await connection.send(
                        contentsOf: ids.flatMap { id in
                            [.data(ByteBuffer(string: "c\(id) r\(round)"), channel: id)]
                                + (last ? [.eof(channel: id)] : [])
                        })
                    var answers: [UInt32: String] = [:]
                    var closed: Set<UInt32> = []
                    while answers.count < ids.count || (last && closed.count < ids.count) {
                        let frame = try await connection.next()
                        switch frame.kind {
                        case .data:
                            #expect(answers[frame.channel] == nil)
                            answers[frame.channel] = String(buffer: frame.payload)
                        case .close:
                            closed.insert(frame.channel)
                            try await connection.send(.close(channel: frame.channel))
                        case .window, .eof, .control: continue
                        }
                    }
                    #expect(answers == Dictionary(uniqueKeysWithValues: ids.map { ($0, "C\($0) R\(round)") }))
                }
            }
        }
    }

    @Test func aChannelWhoseAnswersAreNotReadStopsOnlyItself() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                // Channel 1 lets the server send 16 bytes of answers; it is sent 64. Channel 2 runs a whole echo
                // meanwhile, and a ping crosses the connection.
                _ = try await connection.openEcho(1, window: 16)
                _ = try await connection.openEcho(2, window: 1 << 20)
                try await connection.send(.data(ByteBuffer(repeating: 0x61, count: 64), channel: 1))
                let sent = Self.randomBytes(100_000, seed: 2)
                try await connection.send(.data(ByteBuffer(bytes: sent), channel: 2), .eof(channel: 2))
                try await connection.send(ConnectionMessage.ping(.init(id: 5)).frame)
                var first: [UInt8] = []
                var second: [UInt8] = []
                var ponged = false
                var closed = false
                while !(ponged && closed) {
                    let frame = try await connection.next()
                    if frame.channel == 0 {
                        #expect(try ConnectionMessage(frame: frame) == .pong(.init(id: 5)))
                        ponged = true
                    } else if frame.kind == .data {
                        if frame.channel == 1 { first += frame.payload.readableBytesView }
                        if frame.channel == 2 { second += frame.payload.readableBytesView }
                    } else if frame.channel == 2, frame.kind == .close {
                        try await connection.send(.close(channel: 2))
                        closed = true
                    }
                }
                #expect(second == Self.upper(sent))
                #expect(ponged)
                #expect(first.count <= 16)
                // Granting channel 1 more lets the rest of its answers through.
                try await connection.send(.window(48, channel: 1))
                while first.count < 64 {
                    let frame = try await connection.next()
                    #expect(frame.channel == 1 && frame.kind == .data)
                    first += frame.payload.readableBytesView
                }
                #expect(first == [UInt8](repeating: 0x41, count: 64))
            }
        }
    }

    @Test func dataBeyondTheServersWindowIsFatalFlowControl() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                // With no credit for answers, echo reads nothing, so the server grants nothing beyond its window.
                let accept = try await connection.openEcho(1, window: 0)
                var left = accept.window + 1
                while left > 0 {
                    let length = min(65_536, left)
                    try await connection.send(.data(ByteBuffer(repeating: 0x62, count: length), channel: 1))
                    left -= length
                }
                var error: ControlMessage.ErrorBody?
                while let frame = try await connection.nextOrEnd() {
                    if frame.channel == 0, case .error(let body) = try ConnectionMessage(frame: frame) { error = body }
                }
                #expect(error?.code == .flowControl)
                #expect(error?.fatal == true)
            }
        }
    }

    /// A forward the server does not allow (no `--allow-forward`) and a service it does not know are refused; the
    /// ids are free again and the connection goes on.
    @Test func refusedOpensLeaveTheConnectionServing() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                let opens: [(ChannelMessage.Open.Parameters, ChannelService, ProtocolError.Code)] = [
                    (.forward(.init(host: "127.0.0.1", port: 9)), .forward, .notPermitted),
                    (.unknown(service: "teleport"), .forward, .unknownService),
                ]
                for (parameters, service, code) in opens {
                    try await connection.send(
                        ChannelMessage.open(.init(window: 1024, parameters: parameters)).frame(channel: 1))
                    let frame = try await connection.next()
                    guard case .refuse(let error) = try ChannelMessage(frame: frame, service: service) else {
                        Issue.record("expected a refusal, got \(frame)")
                        return
                    }
                    #expect(error.code == code)
                }
                _ = try await connection.openEcho(1, window: 1024)
                try await connection.send(.data(ByteBuffer(string: "hi"), channel: 1))
                let answer = try await connection.next()
                #expect(answer.kind == .data && String(buffer: answer.payload) == "HI")
            }
        }
    }
}
