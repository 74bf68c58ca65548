import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

/// Requests carrying the numbers an attacker tries, sent to a running server as raw control frames (past the
/// client library's own checks): each is answered with an error for that request or that connection, and the
/// server goes on serving everyone.
@Suite(.timeLimit(.minutes(3))) struct AbsurdNumberTests {
    /// Requests with `#` where a number goes.
    static let requests = [
        #"{"type":"ping","id":#}"#,
        #"{"type":"exec","argv":["true"],"timeout":#}"#,
        #"{"type":"exec","argv":["true"],"pty":{"term":"xterm","rows":#,"cols":80}}"#,
        #"{"type":"exec","argv":["true"],"pty":{"term":"xterm","rows":24,"cols":#}}"#,
        #"{"type":"file.get","path":"f","offset":#}"#,
        #"{"type":"file.put","path":"p","size":#}"#,
        #"{"type":"file.put","path":"p","size":1,"mode":#}"#,
        #"{"type":"file.put","path":"p","size":1,"mtime":{"seconds":#,"nanoseconds":0}}"#,
        #"{"type":"file.put","path":"p","size":1,"mtime":{"seconds":0,"nanoseconds":#}}"#,
        #"{"type":"file.attrs","path":"f","mode":#}"#,
        #"{"type":"file.attrs","path":"f","mtime":{"seconds":#,"nanoseconds":0}}"#,
    ]

    static let extremes = [
        "0", "-0", "-1", "9007199254740993", "9223372036854775807", "9223372036854775808", "1e19", "1e308",
        #""NaN""#, "null",
    ]

    /// Sends `json` as the first request of a new connection and reads until the server answers it or closes.
    private func send(_ json: String, to server: TestServer) async throws {
        try await server.withClient(version: 1) { connection in
            try await connection.writer.send(Frame(kind: .control, payload: ByteBuffer(string: json)))
            while true {
                let frame: Frame
                do {
                    frame = try await connection.frames.next()
                } catch {
                    return  // closed after a fatal error
                }
                guard frame.kind == .control else { continue }
                switch try connection.frames.message(in: frame) {
                case .error, .pong, .execExit, .fileEnd, .fileDone: return
                case .fileReady:
                    // An accepted upload: abandon it.
                    return
                default: continue
                }
            }
        }
    }

    @Test(arguments: requests)
    func theServerKeepsServing(_ template: String) async throws {
        try await withTemporaryDirectory { root in
            try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/f"))
            try await withTestServer(configure: { $0.root = root }) { server in
                for value in Self.extremes {
                    try await send(template.replacingOccurrences(of: "#", with: value), to: server)
                }
                // Someone else is still served.
                try await server.withClient { connection in _ = try await connection.ping() }
            }
        }
    }

    /// A resize in the middle of a command, with absurd sizes: the command and the server survive.
    @Test func absurdResizesDuringACommand() async throws {
        try await withTestServer { server in
            for value in Self.extremes {
                try await server.withClient(version: 1) { connection in
                    let terminal = ControlMessage.Terminal(term: "xterm", rows: 24, cols: 80)
                    try await connection.writer.send(ControlMessage.exec(.init(argv: ["sleep", "0.2"], pty: terminal)))
                    _ = try await connection.frames.nextMessage()
                    let json = #"{"type":"exec.resize","term":"xterm","rows":#,"cols":80}"#
                    try await connection.writer.send(
                        Frame(
                            kind: .control, payload: ByteBuffer(string: json.replacingOccurrences(of: "#", with: value))
                        ))
                    while let frame = try? await connection.frames.next() {
                        if frame.kind == .control, case .execExit = try connection.frames.message(in: frame) { break }
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
