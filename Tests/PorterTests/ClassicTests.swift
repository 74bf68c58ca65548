import Foundation
import NIOCore
import NIOPosix
import Porter
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The course's own clients, written in Python from the classic wire formats, against `--classic` listeners
/// served by an in-process server.
@Suite(.timeLimit(.minutes(3)), .enabled(if: toolAvailable("python3"), "needs python3"))
struct ClassicTests {
    /// Tests/classic/course_clients.py.
    private static let clients = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("classic/course_clients.py").path

    private func course(_ arguments: String...) async throws -> (status: Int32, output: String) {
        let run = try await TestProcess.run(["python3", Self.clients] + arguments)
        return (run.status, run.output + run.errors)
    }

    private func withClassicServer(
        _ body: @Sendable (TestServer, _ root: String) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { root in
            let configure: (inout ServerConfiguration) -> Void = {
                $0.classic = .anyPorts()
                $0.root = root
            }
            try await withTestServer(configure: configure) { server in try await body(server, root) }
        }
    }

    @Test func echoExecUDPAndHTTPSpeakTheCourseFormats() async throws {
        try await withClassicServer { server, _ in
            for (kind, door) in [
                ("echo", "classic echo"), ("exec", "classic exec"), ("udp", "classic udp echo"),
                ("http", "classic http"),
            ] {
                let run = try await course(kind, String(try server.port(of: door)))
                #expect(run.status == 0, "\(kind): \(run.output)")
                #expect(run.output.contains("\(kind) ok"), "\(kind): \(run.output)")
            }
        }
    }

    @Test func ftpSendsABinaryFileWithItsMD5AndRefusesNamesOutsideTheRoot() async throws {
        try await withClassicServer { server, root in
            try writeRandomFile(root + "/data.bin", count: 300_000)
            let md5 = try await TestProcess.run(["md5sum", root + "/data.bin"]).output.prefix(32)
            let run = try await course("ftp", String(try server.port(of: "classic ftp")), "data.bin", String(md5))
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.contains("ftp ok, 300000 bytes"))
        }
    }

    @Test func aClassicChatClientAndANativeMemberShareTheLobby() async throws {
        try await withClassicServer { server, _ in
            let port = try server.port(of: "classic chat")
            let python = try TestProcess.start(
                ["python3", Self.clients, "chat", String(port), "ann: hello classic\n"])
            try await waitUntil(seconds: 10) {
                server.server.chat.snapshot().contains { $0.room == "lobby" && !$0.members.isEmpty }
            }
            try await server.withClient { connection in
                let chat = try await connection.joinChat(room: "lobby", name: "ann")
                try await chat.sender.say("hello classic")
                while let event = try await chat.nextEvent() {
                    if case .chat(.message(let from, let text, _)) = event {
                        #expect(from.hasPrefix("127.0.0.1:"))
                        #expect(text == "hi from the course client")
                        break
                    }
                }
                try await chat.sender.leave()
            }
            #expect(try await python.wait() == 0)
        }
    }

    /// Over a classic listener's connection limit, a connection is closed at once and the server carries on.
    @Test func connectionsOverTheLimitAreClosedAndServingGoesOn() async throws {
        try await withTemporaryDirectory { root in
            let configure: (inout ServerConfiguration) -> Void = {
                $0.classic = .anyPorts()
                $0.classic?.maxConnections = 1
                $0.root = root
            }
            try await withTestServer(configure: configure) { server in
                let port = try server.port(of: "classic exec")
                let held = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(host: "127.0.0.1", port: port).get()
                // More connections while the first holds the one slot: the server closes them (it used to trap on
                // the async channels it dropped) and must go on serving.
                for _ in 0..<5 { _ = await socketAnswers(port: port) }
                try? await held.close()  // the server may have closed it first
                // Once the server has seen the close, the slot is free again and a command is answered (each probe
                // holds the one slot only while it runs).
                let deadline = ContinuousClock.now + .seconds(10 * testSlowdown)
                while await !socketAnswers(port: port) {
                    guard ContinuousClock.now < deadline else { throw TestFailure("the classic exec never answered") }
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
        }
    }

    @Test func theUnauthenticatedListenersStayOnLoopbackUnlessAskedOtherwise() async throws {
        let exposed: (inout ServerConfiguration) -> Void = { $0.classic = .anyPorts(host: "0.0.0.0") }
        do {
            _ = try await withTestServer(configure: exposed) { _ in Issue.record("--classic bound 0.0.0.0") }
        } catch let error as PorterError {
            #expect(error.message.contains("--classic-insecure"))
        }
    }
}

/// Whether the classic exec listener on `port` answers a command (`true` prints nothing: a zero length).
///
/// The probe blocks (up to 5 s), so it runs on NIO's thread pool, not on one of the few threads tasks share.
private func socketAnswers(port: Int) async -> Bool {
    (try? await NIOThreadPool.singleton.runIfActive { blockingSocketAnswers(port: port) }) ?? false
}

private func blockingSocketAnswers(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { return false }
    // Never wait long: a connection the server neither answers nor closes counts as no answer.
    var limit = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    _ = "true".withCString { send(descriptor, $0, 4, 0) }
    var reply = [UInt8](repeating: 0, count: 4)
    return recv(descriptor, &reply, 4, Int32(MSG_WAITALL)) == 4
}
