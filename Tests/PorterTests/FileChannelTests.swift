import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

/// Files on protocol version 2's channels (docs/design/protocol-2.md sections 4.4 and 5.4.2–5.4.4), frame by frame
/// and through the library.
@Suite(.timeLimit(.minutes(2))) struct FileChannelTests {
    /// The messages the server sent on channel `id` until its close, which is answered; data frames are counted.
    private struct Transcript {
        var messages: [ChannelMessage] = []
        var payloads: [Int] = []
        var data = 0
        var eof = false
    }

    private func transcript(
        of id: UInt32, service: ChannelService, on connection: inout FrameConnection
    ) async throws -> Transcript {
        var transcript = Transcript()
        while true {
            let frame = try await connection.next()
            #expect(frame.channel == id)
            switch frame.kind {
            case .data: transcript.data += frame.payload.readableBytes
            case .window: continue
            case .eof: transcript.eof = true
            case .control:
                transcript.payloads.append(frame.payload.readableBytes)
                transcript.messages.append(try ChannelMessage(frame: frame, service: service))
            case .close:
                try await connection.send(.close(channel: id))
                return transcript
            }
        }
    }

    private func accept(
        _ parameters: ChannelMessage.Open.Parameters, window: Int, on id: UInt32, _ connection: inout FrameConnection
    ) async throws -> ChannelMessage.Accept {
        try await connection.send(ChannelMessage.open(.init(window: window, parameters: parameters)).frame(channel: id))
        let frame = try await connection.next()
        guard frame.channel == id, case .accept(let accept) = try ChannelMessage(frame: frame, service: .filePut)
        else { throw TestFailure("expected accept on channel \(id), got \(frame)") }
        return accept
    }

    private func withServedDirectory(_ body: @Sendable (TestServer, String) async throws -> Void) async throws {
        try await withTemporaryDirectory { root in
            try await withTestServer(plaintext: true, configure: { $0.root = root }) { server in
                try await body(server, root)
            }
        }
    }

    @Test func aFailedUploadEndsOnlyItsChannelAndPutsNothingUnderTheName() async throws {
        try await withServedDirectory { server, root in
            try await FrameConnection.run(server.endpoint) { connection in
                // Data before file.begin.
                let put = ControlMessage.FilePut(path: "a", size: 4)
                let first = try await accept(.filePut(put), window: 0, on: 1, &connection)
                #expect(first.window == ChannelLimits.defaultMaxWindow, "the first uploads get the large window")
                try await connection.send(.data(ByteBuffer(string: "abcd"), channel: 1))
                let early = try await transcript(of: 1, service: .filePut, on: &connection)
                #expect(early.messages.map(\.failureCode) == [.badRequest])

                // The whole file, with a digest that does not match.
                _ = try await accept(.filePut(put), window: 0, on: 2, &connection)
                try await connection.send(
                    ChannelMessage.fileBegin(.init(offset: 0)).frame(channel: 2),
                    .data(ByteBuffer(string: "abcd"), channel: 2), .eof(channel: 2),
                    ChannelMessage.fileEnd(.init(digest: String(repeating: "0", count: 32))).frame(channel: 2))
                let corrupted = try await transcript(of: 2, service: .filePut, on: &connection)
                #expect(corrupted.messages.map(\.failureCode) == [.digestMismatch])

                // Too many bytes.
                _ = try await accept(.filePut(put), window: 0, on: 3, &connection)
                try await connection.send(
                    ChannelMessage.fileBegin(.init(offset: 0)).frame(channel: 3),
                    .data(ByteBuffer(string: "abcde"), channel: 3))
                let long = try await transcript(of: 3, service: .filePut, on: &connection)
                #expect(long.messages.map(\.failureCode) == [.badRequest])

                // The connection goes on.
                _ = try await connection.openEcho(4, window: 1024)
                try await connection.send(.data(ByteBuffer(string: "ok"), channel: 4))
                #expect(String(buffer: try await connection.next().payload) == "OK")
            }
            #expect(!FileManager.default.fileExists(atPath: root + "/a"))
        }
    }

    @Test func anUploadOnAChannelIsVerifiedAndRenamedIntoPlace() async throws {
        try await withServedDirectory { server, root in
            try await FrameConnection.run(server.endpoint) { connection in
                let content = ByteBuffer(string: "hello, channels\n")
                let digest = FileDigest.hex(of: content, .xxh128)
                let put = ControlMessage.FilePut(path: "hello.txt", size: Int64(content.readableBytes), mode: 0o600)
                let accepted = try await accept(.filePut(put), window: 0, on: 1, &connection)
                #expect(accepted.details == .filePut(.init(offset: 0, prefix: nil)))
                try await connection.send(
                    ChannelMessage.fileBegin(.init(offset: 0)).frame(channel: 1), .data(content, channel: 1),
                    .eof(channel: 1), ChannelMessage.fileEnd(.init(digest: digest)).frame(channel: 1))
                let result = try await transcript(of: 1, service: .filePut, on: &connection)
                #expect(result.eof)
                #expect(result.messages == [.done(.filePut(.init(size: Int64(content.readableBytes))))])
            }
            #expect(try String(contentsOfFile: root + "/hello.txt", encoding: .utf8) == "hello, channels\n")
            let mode = try FileManager.default.attributesOfItem(atPath: root + "/hello.txt")[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }

    @Test func anythingAfterAnUploadsFileEndIsIgnored() async throws {
        try await withServedDirectory { server, root in
            try await FrameConnection.run(server.endpoint) { connection in
                let content = ByteBuffer(string: "once\n")
                let digest = FileDigest.hex(of: content, .xxh128)
                let put = ControlMessage.FilePut(path: "once.txt", size: Int64(content.readableBytes))
                _ = try await accept(.filePut(put), window: 0, on: 1, &connection)
                let end = ChannelMessage.fileEnd(.init(digest: digest)).frame(channel: 1)
                try await connection.send(
                    ChannelMessage.fileBegin(.init(offset: 0)).frame(channel: 1), .data(content, channel: 1),
                    .eof(channel: 1), end, end, ChannelMessage.fileBegin(.init(offset: 0)).frame(channel: 1))
                let result = try await transcript(of: 1, service: .filePut, on: &connection)
                #expect(result.messages == [.done(.filePut(.init(size: Int64(content.readableBytes))))])

                // The connection goes on.
                _ = try await connection.openEcho(2, window: 1024)
                try await connection.send(.data(ByteBuffer(string: "ok"), channel: 2))
                #expect(String(buffer: try await connection.next().payload) == "OK")
            }
            #expect(try String(contentsOfFile: root + "/once.txt", encoding: .utf8) == "once\n")
            #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["once.txt"])
        }
    }

    @Test func aListingIsCutToFitTheClientsControlPayloadLimit() async throws {
        try await withServedDirectory { server, root in
            let count = 1_500
            for index in 0..<count {
                let name = String(format: "%04d-", index) + String(repeating: "n", count: 200)
                #expect(FileManager.default.createFile(atPath: root + "/" + name, contents: Data()))
            }
            try await FrameConnection.run(server.endpoint) { connection in
                try await connection.send(
                    ChannelMessage.open(.init(window: 0, parameters: .fileList(.init(path: "."))))
                        .frame(channel: 1))
                let accepted = try await connection.next()
                #expect(
                    try ChannelMessage(frame: accepted, service: .fileList)
                        == .accept(.init(window: 0, details: .fileList(kind: .directory))))
                let listing = try await transcript(of: 1, service: .fileList, on: &connection)
                // The test's hello announced no limits: the server keeps to the 65,536 bytes every peer accepts.
                #expect(listing.payloads.allSatisfy { $0 <= 65_536 })
                let parts = listing.messages.compactMap { if case .fileListing(let part) = $0 { part } else { nil } }
                #expect(parts.count > 1, "about 350 KB of names need several listings")
                let names = parts.flatMap(\.entries).map(\.path)
                #expect(names.count == count && names == names.sorted())
                guard case .done(.fileList(let end)) = listing.messages.last else {
                    Issue.record("no done: \(listing.messages.last.map { "\($0)" } ?? "nothing")")
                    return
                }
                #expect(end.directory?.path == "." && end.skipped == nil)
            }
        }
    }

    @Test func globalRequestsAreAnsweredInOrderEachWithItsOutcome() async throws {
        try await withServedDirectory { server, root in
            try await FrameConnection.run(server.endpoint) { connection in
                try await connection.send(
                    ConnectionMessage.global(.init(id: 1, request: .fileMkdir(.init(path: "d")))).frame,
                    ConnectionMessage.global(.init(id: 2, request: .unknown(name: "reboot"))).frame,
                    ConnectionMessage.global(.init(id: 3, request: .fileSymlink(.init(path: "l", target: "../.."))))
                        .frame,
                    ConnectionMessage.global(.init(id: 4, request: .fileAttrs(.init(path: "d", mode: 0o750)))).frame)
                var answers: [ConnectionMessage] = []
                for _ in 0..<4 { answers.append(try ConnectionMessage(frame: try await connection.next())) }
                guard case .globalOK(let first) = answers[0], case .globalFail(let second) = answers[1],
                    case .globalFail(let third) = answers[2], case .globalOK(let fourth) = answers[3]
                else {
                    Issue.record("unexpected answers: \(answers)")
                    return
                }
                #expect(first.id == 1 && fourth.id == 4)
                #expect(second.id == 2 && second.error.code == .unknownRequest)
                #expect(third.id == 3 && third.error.code == .badPath)
            }
            let mode = try FileManager.default.attributesOfItem(atPath: root + "/d")[.posixPermissions] as? Int
            #expect(mode == 0o750)
            #expect(!FileManager.default.fileExists(atPath: root + "/l"))
        }
    }
}

extension ChannelMessage {
    /// The code of a `fail`, else `nil`.
    fileprivate var failureCode: ProtocolError.Code? {
        if case .fail(let error) = self { return error.code }
        return nil
    }
}
