import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

/// Keepalives and pings are legal at every point after authentication: each test drives a channel frame by frame
/// and slips a `keepalive` and a `ping` in on channel 0 wherever a client's timer could fire, and the channel's
/// result is exact.
@Suite(.timeLimit(.minutes(2))) struct KeepaliveTests {
    /// A keepalive and a ping with `id`.
    private static func interjection(_ id: UInt64) -> [Frame] {
        [ConnectionMessage.keepalive.frame, ConnectionMessage.ping(.init(id: id)).frame]
    }

    /// What came back on channels other than 0, and the pong ids.
    private struct Received {
        var pongs = Set<UInt64>()
        var data: [UInt32: ByteBuffer] = [:]
        var messages: [UInt32: [ChannelMessage]] = [:]
        var eof = Set<UInt32>()
    }

    /// Reads into `received` until `done` holds for it, answering every `close` with the client's own.
    private func read(
        _ connection: inout FrameConnection, services: [UInt32: ChannelService], into received: inout Received,
        until done: (Received) -> Bool
    ) async throws {
        while !done(received) {
            let frame = try await connection.next()
            if frame.channel == 0 {
                switch try ConnectionMessage(frame: frame) {
                case .pong(let pong): received.pongs.insert(pong.id)
                case .error(let body): throw PorterError(remote: body)
                default: continue
                }
                continue
            }
            switch frame.kind {
            case .data:
                var payload = frame.payload
                received.data[frame.channel, default: ByteBuffer()].writeBuffer(&payload)
            case .control:
                let service = try #require(services[frame.channel])
                received.messages[frame.channel, default: []].append(try ChannelMessage(frame: frame, service: service))
            case .eof:
                received.eof.insert(frame.channel)
            case .close:
                try await connection.send(.close(channel: frame.channel))
            case .window:
                continue
            }
        }
    }

    /// ``read(_:services:into:until:)`` into a fresh record.
    private func read(
        _ connection: inout FrameConnection, services: [UInt32: ChannelService], until done: (Received) -> Bool
    ) async throws -> Received {
        var received = Received()
        try await read(&connection, services: services, into: &received, until: done)
        return received
    }

    private static func has(_ messages: [ChannelMessage]?, _ matches: (ChannelMessage) -> Bool) -> Bool {
        messages?.contains(where: matches) == true
    }

    private func open(_ parameters: ChannelMessage.Open.Parameters, window: Int = 1 << 20, on id: UInt32) -> Frame {
        ChannelMessage.open(.init(window: window, parameters: parameters)).frame(channel: id)
    }

    @Test func betweenTheFramesOfAnEchoAndACommand() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                var frames = Self.interjection(1) + [open(.echo, on: 1)] + Self.interjection(2)
                frames += [.data(ByteBuffer(string: "abc"), channel: 1)] + Self.interjection(3)
                frames += [.eof(channel: 1)] + Self.interjection(4)
                frames += [open(.exec(.init(argv: ["cat"])), on: 2)] + Self.interjection(5)
                try await connection.send(contentsOf: frames)
                // The command's input may only follow its accept, which grants the window.
                let services: [UInt32: ChannelService] = [1: .echo, 2: .exec]
                var received = Received()
                try await read(&connection, services: services, into: &received) {
                    Self.has($0.messages[2]) { if case .accept = $0 { true } else { false } }
                }
                try await connection.send(
                    contentsOf: [.data(ByteBuffer(string: "input\n"), channel: 2)] + Self.interjection(6)
                        + [.eof(channel: 2)] + Self.interjection(7))
                try await read(&connection, services: services, into: &received) {
                    $0.pongs.count == 7 && $0.eof.contains(1)
                        && Self.has($0.messages[2]) { if case .execExit = $0 { true } else { false } }
                }
                #expect(received.pongs == Set(1...7))
                #expect(received.data[1].map { String(buffer: $0) } == "ABC")
                #expect(received.data[2].map { String(buffer: $0) } == "input\n")
                guard case .execExit(let exit) = received.messages[2]?.last else {
                    Issue.record("no exec.exit: \(received.messages)")
                    return
                }
                #expect(exit.status == 0)
                // After the exit: still legal, and the connection still serves.
                try await connection.send(contentsOf: Self.interjection(8))
                let last = try await read(&connection, services: [1: .echo, 2: .exec]) { $0.pongs.contains(8) }
                #expect(last.pongs == [8])
            }
        }
    }

    @Test func betweenEveryStepOfAnUploadAndADownload() async throws {
        try await withTemporaryDirectory { root in
            try await withTestServer(plaintext: true, configure: { $0.root = root }) { server in
                try await FrameConnection.run(server.endpoint) { connection in
                    let chunks = [ByteBuffer(repeating: 0x61, count: 70_000), ByteBuffer(repeating: 0x62, count: 5)]
                    var digest = FileDigest()
                    for chunk in chunks { digest.update(chunk) }
                    let size = Int64(chunks.map(\.readableBytes).reduce(0, +))
                    try await connection.send(
                        contentsOf: [open(.filePut(.init(path: "up.bin", size: size)), window: 0, on: 1)]
                            + Self.interjection(1))
                    let accepted = try await read(&connection, services: [1: .filePut]) {
                        $0.messages[1]?.isEmpty == false && $0.pongs.contains(1)
                    }
                    guard case .accept = accepted.messages[1]?.first else {
                        Issue.record("the upload was not accepted: \(accepted.messages)")
                        return
                    }
                    // Between the accept and file.begin: a client hashing a long resumed prefix sends keepalives.
                    var frames = Self.interjection(2) + [ChannelMessage.fileBegin(.init(offset: 0)).frame(channel: 1)]
                    for chunk in chunks { frames += Self.interjection(3) + [.data(chunk, channel: 1)] }
                    frames += Self.interjection(4) + [.eof(channel: 1)] + Self.interjection(5)
                    frames.append(ChannelMessage.fileEnd(.init(digest: digest.hex)).frame(channel: 1))
                    try await connection.send(contentsOf: frames)
                    let uploaded = try await read(&connection, services: [1: .filePut]) {
                        Self.has($0.messages[1]) { if case .done = $0 { true } else { false } } && $0.pongs.count == 4
                    }
                    #expect(uploaded.pongs == [2, 3, 4, 5])
                    let stored = try Data(contentsOf: URL(fileURLWithPath: root + "/up.bin"))
                    #expect(stored.count == Int(size))

                    try await connection.send(
                        contentsOf: [open(.fileGet(.init(path: "up.bin")), on: 3)] + Self.interjection(6))
                    let download = try await read(&connection, services: [3: .fileGet]) {
                        Self.has($0.messages[3]) { if case .done = $0 { true } else { false } } && $0.pongs.contains(6)
                    }
                    #expect(download.data[3]?.readableBytes == Int(size))

                    try await connection.send(
                        contentsOf: [
                            ConnectionMessage.global(.init(id: 1, request: .fileMkdir(.init(path: "d")))).frame
                        ]
                            + Self.interjection(7))
                    var answered = false
                    var pong = false
                    while !(answered && pong) {
                        let frame = try await connection.next()
                        guard frame.channel == 0 else {
                            // The end of the download's channel.
                            if frame.kind == .close { try await connection.send(.close(channel: frame.channel)) }
                            continue
                        }
                        switch try ConnectionMessage(frame: frame) {
                        case .globalOK: answered = true
                        case .pong(let ping): pong = ping.id == 7
                        case let other: Issue.record("unexpected \(other)")
                        }
                    }
                    var isDirectory: ObjCBool = false
                    #expect(FileManager.default.fileExists(atPath: root + "/d", isDirectory: &isDirectory))
                    #expect(isDirectory.boolValue)
                }
            }
        }
    }
}
