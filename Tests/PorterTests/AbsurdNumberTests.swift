import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

/// Requests carrying the numbers an attacker tries, sent to a running server as raw frames (past the client
/// library's own checks): each is answered with an error for that channel or that connection, and the server goes
/// on serving everyone.
@Suite(.timeLimit(.minutes(3))) struct AbsurdNumberTests {
    /// Messages with `#` where a number goes, and the channel each is sent on: connection messages on channel 0,
    /// opens on channel 1.
    static let requests: [(channel: UInt32, json: String)] = [
        (0, #"{"type":"ping","id":#}"#),
        (0, #"{"type":"global","id":#,"name":"file.mkdir","path":"d"}"#),
        (0, #"{"type":"global","id":1,"name":"file.attrs","path":"f","mode":#}"#),
        (0, #"{"type":"global","id":1,"name":"file.attrs","path":"f","mtime":{"seconds":#,"nanoseconds":0}}"#),
        (1, #"{"type":"open","service":"echo","window":#}"#),
        (1, #"{"type":"open","service":"exec","window":0,"argv":["true"],"timeout":#}"#),
        (1, #"{"type":"open","service":"exec","window":0,"argv":["true"],"pty":{"term":"xterm","rows":#,"cols":80}}"#),
        (1, #"{"type":"open","service":"exec","window":0,"argv":["true"],"pty":{"term":"xterm","rows":24,"cols":#}}"#),
        (1, #"{"type":"open","service":"file.get","window":65536,"path":"f","offset":#}"#),
        (1, #"{"type":"open","service":"file.put","window":0,"path":"p","size":#}"#),
        (1, #"{"type":"open","service":"file.put","window":0,"path":"p","size":1,"mode":#}"#),
        (
            1,
            #"{"type":"open","service":"file.put","window":0,"path":"p","size":1,"mtime":{"seconds":#,"nanoseconds":0}}"#
        ),
        (
            1,
            #"{"type":"open","service":"file.put","window":0,"path":"p","size":1,"mtime":{"seconds":0,"nanoseconds":#}}"#
        ),
        (1, #"{"type":"open","service":"forward","window":0,"host":"127.0.0.1","port":#}"#),
    ]

    static let extremes = [
        "0", "-0", "-1", "9007199254740993", "9223372036854775807", "9223372036854775808", "1e19", "1e308",
        #""NaN""#, "null", "1.5",
    ]

    /// Sends `json` on `channel` of a new connection and reads until the server answers it or closes.
    private func send(_ json: String, on channel: UInt32, to server: TestServer) async throws {
        try await FrameConnection.run(server.endpoint) { connection in
            try await connection.send(Frame(kind: .control, payload: ByteBuffer(string: json), channel: channel))
            while let frame = try await connection.nextOrEnd() {
                // Whatever comes first on either channel answers the message: a pong, a global answer, an accept
                // or refusal, or a fatal error.
                if frame.kind == .control, frame.channel == channel || frame.channel == 0 { return }
            }
        }
    }

    @Test(arguments: requests.indices)
    func theServerKeepsServing(_ index: Int) async throws {
        let (channel, template) = Self.requests[index]
        try await withTemporaryDirectory { root in
            try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/f"))
            try await withTestServer(plaintext: true, configure: { $0.root = root }) { server in
                for value in Self.extremes {
                    try await send(template.replacingOccurrences(of: "#", with: value), on: channel, to: server)
                }
                // Someone else is still served.
                try await server.withClient { connection in _ = try await connection.ping() }
            }
        }
    }

    /// A resize in the middle of a command, with absurd sizes: the command and the server survive.
    @Test func absurdResizesDuringACommand() async throws {
        try await withTestServer(plaintext: true) { server in
            for value in Self.extremes {
                try await FrameConnection.run(server.endpoint) { connection in
                    let open =
                        #"{"type":"open","service":"exec","window":0,"argv":["sleep","0.2"],"pty":{"term":"xterm","rows":24,"cols":80}}"#
                    try await connection.send(Frame(kind: .control, payload: ByteBuffer(string: open), channel: 1))
                    _ = try await connection.next()
                    let json = #"{"type":"exec.resize","rows":#,"cols":80}"#
                    try await connection.send(
                        Frame(
                            kind: .control,
                            payload: ByteBuffer(string: json.replacingOccurrences(of: "#", with: value)),
                            channel: 1))
                    // The command's exit, or the connection's end after a fatal error.
                    while let frame = try? await connection.nextOrEnd() {
                        if frame.kind == .control, frame.channel == 1,
                            case .execExit = try? ChannelMessage(frame: frame, service: .exec)
                        {
                            break
                        }
                    }
                }
            }
            try await server.withClient { connection in _ = try await connection.ping() }
        }
    }

    /// The library refuses to send an absurd number at all: the caller's error, not the connection's.
    @Test func theClientLibraryRefusesAnAbsurdTimeoutBeforeSending() async throws {
        try await withTestServer { server in
            try await server.withClient { connection in
                for timeout in [Double.infinity, .nan, 1e19, -1, 0] {
                    let error = await #expect(throws: PorterError.self) {
                        _ = try await connection.exec(["true"], options: ExecOptions(timeout: timeout))
                    }
                    #expect(error?.kind == .configuration)
                }
                _ = try await connection.ping()
            }
        }
    }
}
