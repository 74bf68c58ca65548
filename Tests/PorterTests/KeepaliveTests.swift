import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

/// Keepalives and pings are legal at every point after authentication, in every mode: each test drives one
/// request message by message and slips a `keepalive` and a `ping` in wherever a client's timer could fire.
@Suite(.timeLimit(.minutes(2))) struct KeepaliveTests {
    /// Sends a keepalive and a ping with `id`.
    private func interject(_ connection: ClientConnection, id: UInt64) async throws {
        try await connection.writer.send(ControlMessage.keepalive)
        try await connection.writer.send(ControlMessage.ping(.init(id: id)))
    }

    /// Reads frames until `done` says so, returning the pong ids seen on the way and every frame.
    private func read(
        _ connection: ClientConnection, until done: (Frame, ControlMessage?) -> Bool
    ) async throws -> (pongs: Set<UInt64>, frames: [Frame]) {
        var pongs = Set<UInt64>()
        var frames: [Frame] = []
        while true {
            let frame = try await connection.frames.next()
            var message: ControlMessage?
            if frame.kind == .control {
                message = try connection.frames.message(in: frame)
                if case .error(let body) = message { throw PorterError(remote: body) }
                if case .pong(let pong) = message {
                    pongs.insert(pong.id)
                    continue
                }
            }
            frames.append(frame)
            if done(frame, message) { return (pongs, frames) }
        }
    }

    /// Reads until the pongs with `ids` have all arrived, and returns whatever else came meanwhile.
    private func awaitPongs(_ connection: ClientConnection, _ ids: Set<UInt64>) async throws -> [Frame] {
        var missing = ids
        var others: [Frame] = []
        while !missing.isEmpty {
            let frame = try await connection.frames.next()
            if frame.kind == .control, case .pong(let pong) = try connection.frames.message(in: frame) {
                missing.remove(pong.id)
            } else {
                others.append(frame)
            }
        }
        return others
    }

    /// The connection still serves a request after everything that came before.
    private func expectUsable(_ connection: ClientConnection) async throws {
        _ = try await connection.ping()
    }

    @Test func betweenRequestsAndDuringEcho() async throws {
        try await withTestServer { server in
            try await server.withClient(version: 1) { connection in
                try await interject(connection, id: 1)
                #expect(try await awaitPongs(connection, [1]).isEmpty)
                try await connection.writer.send(ControlMessage.echo)
                try await interject(connection, id: 2)
                try await connection.writer.send(.data(ByteBuffer(string: "abc")))
                try await interject(connection, id: 3)
                try await connection.writer.send(ControlMessage.end)
                let (pongs, frames) = try await read(connection) { _, message in message == .end }
                #expect(pongs == [2, 3])
                #expect(frames.first.map { String(buffer: $0.payload) } == "ABC")
                try await expectUsable(connection)
            }
        }
    }

    @Test func duringChat() async throws {
        try await withTestServer { server in
            try await server.withClient(version: 1) { connection in
                try await connection.writer.send(ControlMessage.chatJoin(.init(room: "r", name: "ann")))
                try await interject(connection, id: 1)
                try await connection.writer.send(ControlMessage.chatSay(.init(text: "hi")))
                try await interject(connection, id: 2)
                try await connection.writer.send(ControlMessage.chatWho)
                try await connection.writer.send(ControlMessage.chatLeave)
                let (pongs, frames) = try await read(connection) { _, message in message == .end }
                #expect(pongs == [1, 2])
                let listed = try frames.contains { frame in
                    if case .chatMembers(let members) = try ControlMessage(frame: frame) {
                        return members.members == ["ann"]
                    }
                    return false
                }
                #expect(listed)
                try await expectUsable(connection)
            }
        }
    }

    @Test func whileACommandRunsAndAfterItExits() async throws {
        try await withTestServer { server in
            try await server.withClient(version: 1) { connection in
                try await connection.writer.send(ControlMessage.exec(.init(argv: ["cat"])))
                try await interject(connection, id: 1)
                try await connection.writer.send(.data(ByteBuffer(string: "input\n")))
                try await interject(connection, id: 2)
                try await connection.writer.send(ControlMessage.execEOF)
                try await interject(connection, id: 3)
                let (pongs, frames) = try await read(connection) { _, message in
                    if case .execExit = message { return true }
                    return false
                }
                #expect(pongs.isSubset(of: [1, 2, 3]))
                let output = frames.filter { $0.kind == .data && $0.stream == .output }
                #expect(output.map { String(buffer: $0.payload) }.joined() == "input\n")
                guard case .execExit(let exit) = try ControlMessage(frame: try #require(frames.last)) else {
                    Issue.record("no exec.exit")
                    return
                }
                #expect(exit.status == 0)
                // After the exit, before the next request: still legal.
                try await interject(connection, id: 4)
                _ = try await awaitPongs(connection, Set([1, 2, 3, 4]).subtracting(pongs))
                try await expectUsable(connection)
            }
        }
    }

    @Test func betweenEveryStepOfAnUploadAndADownload() async throws {
        try await withTemporaryDirectory { root in
            try await withTestServer(configure: { $0.root = root }) { server in
                try await server.withClient(version: 1) { connection in
                    let chunks = [ByteBuffer(repeating: 0x61, count: 70_000), ByteBuffer(repeating: 0x62, count: 5)]
                    var digest = FileDigest()
                    for chunk in chunks { digest.update(chunk) }
                    let size = Int64(chunks.map(\.readableBytes).reduce(0, +))
                    try await connection.writer.send(ControlMessage.filePut(.init(path: "up.bin", size: size)))
                    try await interject(connection, id: 1)
                    let ready = try await read(connection) { _, message in
                        if case .fileReady = message { return true }
                        return false
                    }
                    // Between file.ready and file.begin: a client hashing a long resumed prefix sends keepalives.
                    try await interject(connection, id: 2)
                    try await connection.writer.send(ControlMessage.fileBegin(.init(offset: 0)))
                    for chunk in chunks {
                        try await interject(connection, id: 3)
                        try await connection.writer.send(.data(chunk))
                    }
                    try await interject(connection, id: 4)
                    try await connection.writer.send(ControlMessage.fileEnd(.init(digest: digest.hex)))
                    let done = try await read(connection) { _, message in
                        if case .fileDone = message { return true }
                        return false
                    }
                    #expect(ready.pongs.union(done.pongs) == [1, 2, 3, 4])
                    let stored = try Data(contentsOf: URL(fileURLWithPath: root + "/up.bin"))
                    #expect(stored.count == Int(size))

                    try await connection.writer.send(ControlMessage.fileGet(.init(path: "up.bin")))
                    try await interject(connection, id: 5)
                    let download = try await read(connection) { _, message in
                        if case .fileEnd = message { return true }
                        return false
                    }
                    let received = download.frames.filter { $0.kind == .data }.map(\.payload.readableBytes).reduce(0, +)
                    #expect(received == Int(size))
                    if !download.pongs.contains(5) { _ = try await awaitPongs(connection, [5]) }

                    try await connection.writer.send(ControlMessage.fileList(.init(path: "")))
                    try await interject(connection, id: 6)
                    try await connection.writer.send(ControlMessage.fileMkdir(.init(path: "d")))
                    try await interject(connection, id: 7)
                    let rest = try await read(connection) { _, message in
                        if case .fileDone = message { return true }
                        return false
                    }
                    let missing = Set<UInt64>([6, 7]).subtracting(rest.pongs)
                    if !missing.isEmpty { _ = try await awaitPongs(connection, missing) }
                    try await expectUsable(connection)
                }
            }
        }
    }
}
