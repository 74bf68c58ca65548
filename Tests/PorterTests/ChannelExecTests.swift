import Foundation
import NIOCore
import Porter
import PorterProtocol
import Testing

/// The exec service on protocol 2 channels, frame by frame: what a client writer sees (docs/design/protocol-2.md
/// section 5.4.1).
@Suite(.timeLimit(.minutes(2))) struct ChannelExecTests {
    /// What the server sent on channel `id` until its close, which is answered.
    private struct Transcript {
        var output = ""
        var errors = ""
        /// The kinds in order, data collapsed to `data`.
        var order: [String] = []
        var exit: ControlMessage.ExecExit?
    }

    private func transcript(of id: UInt32, on connection: inout FrameConnection) async throws -> Transcript {
        var transcript = Transcript()
        while true {
            let frame = try await connection.next()
            #expect(frame.channel == id)
            switch frame.kind {
            case .data:
                if transcript.order.last != "data" { transcript.order.append("data") }
                switch frame.stream {
                case .output: transcript.output += String(buffer: frame.payload)
                case .error: transcript.errors += String(buffer: frame.payload)
                default: Issue.record("data on stream \(frame.stream.rawValue)")
                }
            case .window:
                continue
            case .eof:
                transcript.order.append("eof")
            case .control:
                let message = try ChannelMessage(frame: frame, service: .exec)
                guard case .execExit(let exit) = message else {
                    Issue.record("unexpected \(message)")
                    continue
                }
                transcript.order.append("exec.exit")
                transcript.exit = exit
            case .close:
                transcript.order.append("close")
                try await connection.send(.close(channel: id))
                return transcript
            }
        }
    }

    private func open(
        _ exec: ControlMessage.Exec, on id: UInt32, _ connection: inout FrameConnection
    ) async throws -> ChannelMessage.Accept {
        try await connection.send(
            ChannelMessage.open(.init(window: 1 << 20, parameters: .exec(exec))).frame(channel: id))
        let frame = try await connection.next()
        guard frame.channel == id, case .accept(let accept) = try ChannelMessage(frame: frame, service: .exec) else {
            throw TestFailure("expected accept on channel \(id), got \(frame)")
        }
        return accept
    }

    @Test func aCommandsChannelCarriesItsStreamsThenEofExitAndClose() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                let exec = ControlMessage.Exec(argv: ["sh", "-c", "printf out; printf err >&2; exit 7"], stdin: false)
                let accept = try await open(exec, on: 1, &connection)
                // Without input the client has no window to send in.
                #expect(accept.window == 0)
                guard case .exec(let pid) = accept.details else { throw TestFailure("no pid in \(accept)") }
                #expect(pid > 0)
                let run = try await transcript(of: 1, on: &connection)
                #expect(run.output == "out" && run.errors == "err")
                #expect(run.order == ["data", "eof", "exec.exit", "close"])
                #expect(run.exit?.status == 7 && run.exit?.signal == nil)
            }
        }
    }

    @Test func inputHeldBackByAFullPipeAndItsEofAllReachTheCommand() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                // More than the pipe and NIO's high-water mark hold while the command does not read yet, within
                // the window: the server stops reading, and the rest arrives with the eof in one delivery.
                let size = 250_000
                let accept = try await open(.init(argv: ["sh", "-c", "sleep 0.5; wc -c"]), on: 1, &connection)
                #expect(accept.window >= size)
                let pieces = (0..<10).map { _ in Frame.data(ByteBuffer(repeating: 0x61, count: size / 10), channel: 1) }
                try await connection.outbound.write(contentsOf: pieces + [.eof(channel: 1)])
                let run = try await transcript(of: 1, on: &connection)
                #expect(run.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(size)")
                #expect(run.exit?.status == 0)
            }
        }
    }

    @Test func aProgramThatCannotStartIsAcceptedWithPidZeroAndStatus127() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                let accept = try await open(.init(argv: ["no-such-program-porter", "x"]), on: 3, &connection)
                #expect(accept.details == .exec(pid: 0))
                let failed = try await transcript(of: 3, on: &connection)
                #expect(failed.errors == "porter: no-such-program-porter: command not found\n")
                #expect(failed.order == ["data", "eof", "exec.exit", "close"])
                #expect(failed.exit?.status == 127)
                // The connection goes on: the id is free again.
                let next = try await open(.init(argv: ["true"], stdin: false), on: 3, &connection)
                #expect(next.details != .exec(pid: 0))
                #expect(try await transcript(of: 3, on: &connection).exit?.status == 0)
            }
        }
    }

    /// A signal reaches a command whose input is full at once: it does not wait behind the input the channel holds
    /// unread (section 5.2), as SSH's channel requests do not.
    @Test func aSignalOvertakesInputTheCommandHasNotRead() async throws {
        try await withTestServer(plaintext: true) { server in
            try await FrameConnection.run(server.endpoint) { connection in
                let accept = try await open(ControlMessage.Exec(argv: ["sleep", "60"]), on: 1, &connection)
                // The whole window: more than the pipe and its channel's buffer take, so the rest waits unread.
                try await connection.send(
                    .data(ByteBuffer(repeating: 0x61, count: accept.window), channel: 1),
                    ChannelMessage.execResize(.init(rows: 24, cols: 80)).frame(channel: 1),
                    ChannelMessage.execSignal(.init(name: "TERM")).frame(channel: 1))
                let run = try await transcript(of: 1, on: &connection)
                #expect(run.exit?.signal == "TERM")
            }
        }
    }
}
