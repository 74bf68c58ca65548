import Foundation
import Porter
import PorterProtocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The ssh-agent client against a real `ssh-agent` holding keys `ssh-add` loaded, and against a fake agent that
/// answers with broken replies.
@Suite struct SSHAgentTests {
    @Test(.enabled(if: SSHAgentTestTools.toolsAvailable))
    func theAgentListsAndSignsWithItsKeys() throws {
        try SSHAgentTestTools.withAgent { agent, directory in
            var expected: [(key: SSHPublicKey, comment: String)] = []
            for (number, type) in [["-t", "ed25519"], ["-t", "ecdsa", "-b", "256"], ["-t", "rsa", "-b", "1024"]]
                .enumerated()
            {
                let file = directory + "/keygen\(number)"
                try SSHAgentTestTools.run(
                    ["ssh-keygen", "-q"] + type + ["-N", "", "-C", "keygen \(number)", "-f", file])
                try SSHAgentTestTools.run(["ssh-add", file], agent: agent)
                if type[1] != "rsa" {
                    let line = try String(contentsOfFile: file + ".pub", encoding: .utf8)
                    expected.append((try SSHPublicKey(openSSH: line), "keygen \(number)"))
                }
            }
            let porterKey = SSHPrivateKey.generateP256(comment: "written by porter")
            try SSHAgentTestTools.writePrivate(porterKey.openSSHText(), to: directory + "/porter")
            try SSHAgentTestTools.run(["ssh-add", directory + "/porter"], agent: agent)
            expected.append((porterKey.publicKey, "written by porter"))

            // The RSA key is in the agent but left out.
            let identities = try agent.identities()
            #expect(identities.map(\.key) == expected.map(\.key))
            #expect(identities.map(\.comment) == expected.map(\.comment))

            let data = Array("a session to authenticate".utf8)
            for identity in identities {
                let signature = try agent.sign(data, with: identity.key)
                #expect(signature.algorithm == identity.key.algorithm)
                #expect(identity.key.isValidSignature(signature, for: data))
                #expect(!identity.key.isValidSignature(signature, for: data + [0]))
            }
        }
    }

    @Test(.enabled(if: SSHAgentTestTools.toolsAvailable))
    func aKeyNotInTheAgentIsRefused() throws {
        try SSHAgentTestTools.withAgent { agent, _ in
            #expect(try agent.identities().isEmpty)
            let stranger = SSHPrivateKey.generateEd25519().publicKey
            let error = try SSHAgentTestTools.agentError { try agent.sign([1, 2, 3], with: stranger) }
            #expect(error.kind == .refused)
            #expect(error.socketPath == agent.socketPath)
            #expect(error.message.contains(agent.socketPath))
            #expect(error.message.contains(stranger.fingerprint))
            #expect(error.message.contains("ssh-add"))
        }
    }

    @Test func aMissingSocketIsAClearError() throws {
        let path = NSTemporaryDirectory() + "porter-no-agent-\(UUID().uuidString.prefix(8))/agent.sock"
        let agent = SSHAgent(socketPath: path)
        let error = try SSHAgentTestTools.agentError { try agent.identities() }
        #expect(error.kind == .unreachable)
        #expect(error.message.contains(path))
        #expect(error.message.contains("No such file"))
        #expect(error.message.contains("SSH_AUTH_SOCK"))

        let long = SSHAgent(socketPath: "/tmp/" + String(repeating: "x", count: 200))
        let longError = try SSHAgentTestTools.agentError { try long.identities() }
        #expect(longError.kind == .unreachable)
        #expect(longError.message.contains("longer than"))

        let file = NSTemporaryDirectory() + "porter-not-a-socket-\(UUID().uuidString.prefix(8))"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let notSocket = try SSHAgentTestTools.agentError { try SSHAgent(socketPath: file).identities() }
        #expect(notSocket.kind == .unreachable)
        #expect(notSocket.message.contains(file))
    }

    @Test func theEnvironmentNamesTheAgent() {
        let fromEnvironment = SSHAgent.fromEnvironment
        let variable = ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"] ?? ""
        #expect(fromEnvironment?.socketPath == (variable.isEmpty ? nil : variable))
    }

    @Test func aReplyInPiecesIsReadWhole() throws {
        let key = SSHPrivateKey.generateEd25519()
        let data: [UInt8] = [9, 8, 7]
        let signature = try key.signature(for: data)
        var body = SSHWireBytes()
        body.byte(14)
        body.string(signature.blob)
        let reply = body.message
        // One byte per write, so that the client's reads come up short.
        let agent = try FakeAgent(replies: [reply.map { [$0] }])
        defer { agent.stop() }
        #expect(try SSHAgent(socketPath: agent.path).sign(data, with: key.publicKey) == signature)
        let request = try #require(agent.requests().first)
        var expected = SSHWireBytes()
        expected.byte(13)
        expected.string(key.publicKey.blob)
        expected.string(data)
        expected.uint32(0)
        #expect(request == expected.message)
    }

    @Test func anAgentListingUnusableKeysHasThemSkipped() throws {
        let key = SSHPrivateKey.generateP256().publicKey
        var rsa = SSHWireBytes()
        rsa.string(Array("ssh-rsa".utf8))
        rsa.string([1, 0, 1])
        rsa.string([0x00, 0xC5, 0x11])
        var body = SSHWireBytes()
        body.byte(12)
        body.uint32(3)
        for (blob, comment) in [(rsa.bytes, "rsa"), (key.blob, "p256"), ([0, 0, 0, 1, 65], "junk")] {
            body.string(blob)
            body.string(Array(comment.utf8))
        }
        let agent = try FakeAgent(replies: [[body.message]])
        defer { agent.stop() }
        let identities = try SSHAgent(socketPath: agent.path).identities()
        #expect(identities.map(\.key) == [key])
        #expect(identities.map(\.comment) == ["p256"])
        #expect(agent.requests() == [[0, 0, 0, 1, 11]])
    }

    /// A reply the client must refuse: its bytes, the kind of error, and a phrase of the message.
    struct BrokenReply: Sendable, CustomTestStringConvertible {
        let bytes: [UInt8]
        let kind: SSHAgentError.Kind
        let phrase: String
        var testDescription: String { "\(bytes) → \(kind)" }
    }

    static let brokenReplies = [
        BrokenReply(bytes: [0xFF, 0xFF, 0xFF, 0xFF], kind: .protocolViolation, phrase: "longer than"),
        BrokenReply(bytes: [0, 4, 0, 1, 12], kind: .protocolViolation, phrase: "longer than"),
        BrokenReply(bytes: [0, 0, 0, 0], kind: .protocolViolation, phrase: "empty reply"),
        BrokenReply(bytes: [], kind: .connection, phrase: "closed the connection"),
        BrokenReply(bytes: [0, 0, 0, 9, 12], kind: .connection, phrase: "closed the connection"),
        BrokenReply(bytes: [0, 0, 0, 1, 5], kind: .refused, phrase: "refused"),
        BrokenReply(bytes: [0, 0, 0, 1, 30], kind: .refused, phrase: "refused"),
        BrokenReply(bytes: [0, 0, 0, 1, 14], kind: .protocolViolation, phrase: "type 14"),
        BrokenReply(bytes: [0, 0, 0, 5, 12, 0, 0, 0, 5], kind: .protocolViolation, phrase: "cut short"),
        BrokenReply(bytes: [0, 0, 0, 6, 12, 0, 0, 0, 0, 0], kind: .protocolViolation, phrase: "unexpected bytes"),
    ]

    @Test(arguments: brokenReplies)
    func aBrokenReplyIsAClearError(_ reply: BrokenReply) throws {
        let agent = try FakeAgent(replies: [[reply.bytes]])
        defer { agent.stop() }
        let error = try SSHAgentTestTools.agentError { try SSHAgent(socketPath: agent.path).identities() }
        #expect(error.kind == reply.kind)
        #expect(error.message.contains(reply.phrase), "\(error)")
        #expect(error.message.contains(agent.path))
    }

    @Test func aSignatureThatDoesNotVerifyIsRejected() throws {
        let key = SSHPrivateKey.generateEd25519()
        let other = try SSHPrivateKey.generateEd25519().signature(for: [1])
        let wrongType = try SSHPrivateKey.generateP256().signature(for: [1])
        var replies: [[[UInt8]]] = []
        for signature in [other, wrongType] {
            var body = SSHWireBytes()
            body.byte(14)
            body.string(signature.blob)
            replies.append([body.message])
        }
        let agent = try FakeAgent(replies: replies)
        defer { agent.stop() }
        for _ in replies {
            let error = try SSHAgentTestTools.agentError {
                try SSHAgent(socketPath: agent.path).sign([1], with: key.publicKey)
            }
            #expect(error.kind == .protocolViolation)
            #expect(error.message.contains("does not verify"))
        }
    }

    @Test func dataTooLongForTheAgentIsNotSent() throws {
        let agent = SSHAgent(socketPath: "/nonexistent/agent")
        let key = SSHPrivateKey.generateEd25519().publicKey
        let error = try SSHAgentTestTools.agentError {
            try agent.sign([UInt8](repeating: 0, count: SSHAgent.maximumMessageLength), with: key)
        }
        #expect(error.kind == .invalidRequest)
    }
}

/// Bytes in the SSH wire encoding, for the fake agent's replies.
struct SSHWireBytes {
    var bytes: [UInt8] = []

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func uint32(_ value: UInt32) {
        bytes += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) }
    }

    mutating func string(_ value: [UInt8]) {
        uint32(UInt32(value.count))
        bytes += value
    }

    /// The bytes as one agent message, after their length.
    var message: [UInt8] {
        var framed = SSHWireBytes()
        framed.uint32(UInt32(bytes.count))
        return framed.bytes + bytes
    }
}

/// A unix socket server that answers each connection, in turn, with one of its replies, written in the pieces
/// given, and records each request.
final class FakeAgent: @unchecked Sendable {
    let path: String
    private let directory: String
    private let listener: Int32
    private let lock = NSLock()
    private var received: [[UInt8]] = []
    private let finished = DispatchSemaphore(value: 0)

    init(replies: [[[UInt8]]]) throws {
        let directory = NSTemporaryDirectory() + "porter-fake-agent-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/agent"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        // accept() gives up after 10 seconds, so a test that never connects cannot hang.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard listener >= 0, bound == 0, listen(listener, 4) == 0 else {
            close(listener)
            throw SSHAgentTestTools.Failure(description: "cannot listen on \(path)")
        }
        self.directory = directory
        self.path = path
        self.listener = listener
        Thread.detachNewThread { [self] in
            for reply in replies {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { break }
                var timeout = timeval(tv_sec: 10, tv_usec: 0)
                setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                let header = Self.read(4, from: connection)
                let length = header.reduce(0) { $0 << 8 | Int($1) }
                let request = header + Self.read(length, from: connection)
                lock.withLock { received.append(request) }
                for piece in reply {
                    _ = piece.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    usleep(1000)
                }
                close(connection)
            }
            finished.signal()
        }
    }

    /// The requests received so far.
    func requests() -> [[UInt8]] {
        lock.withLock { received }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        _ = finished.wait(timeout: .now() + 10)
        close(listener)
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func read(_ count: Int, from descriptor: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < count {
            let received = buffer.withUnsafeMutableBytes {
                Glibc.read(descriptor, $0.baseAddress, min($0.count, count - bytes.count))
            }
            guard received > 0 else { break }
            bytes += buffer[0..<received]
        }
        return bytes
    }
}

/// Helpers for ``SSHAgentTests``: a real ssh-agent in a temporary directory, and ssh tools run against it.
enum SSHAgentTestTools {
    /// Whether ssh-agent, ssh-add and ssh-keygen can run here; CI sets `PORTER_REQUIRE_TOOLS=1` to make a missing
    /// tool fail.
    static var toolsAvailable: Bool {
        ProcessInfo.processInfo.environment["PORTER_REQUIRE_TOOLS"] == "1"
            || ["ssh-agent", "ssh-add", "ssh-keygen"].allSatisfy {
                FileManager.default.isExecutableFile(atPath: "/usr/bin/" + $0)
            }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `body` with an ssh-agent of its own listening in a new temporary directory, and kills the agent and
    /// removes the directory afterwards.
    static func withAgent(_ body: (SSHAgent, String) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "porter-agent-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/agent.sock"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-agent")
        process.arguments = ["-D", "-a", socketPath]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            // SIGKILL: the agent may have inherited a mask blocking SIGTERM from the thread that started it.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socketPath) {
            guard process.isRunning, Date() < deadline else {
                throw Failure(description: "ssh-agent did not create \(socketPath)")
            }
            usleep(10_000)
        }
        try body(SSHAgent(socketPath: socketPath), directory)
    }

    /// Runs `arguments` from /usr/bin, talking to `agent` if given, and returns its standard output; throws if it
    /// fails.
    @discardableResult
    static func run(_ arguments: [String], agent: SSHAgent? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/" + arguments[0])
        process.arguments = Array(arguments.dropFirst())
        if let agent {
            var environment = ProcessInfo.processInfo.environment
            environment["SSH_AUTH_SOCK"] = agent.socketPath
            process.environment = environment
        }
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                description: "\(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): "
                    + String(decoding: errorData, as: UTF8.self))
        }
        return String(decoding: outputData, as: UTF8.self)
    }

    /// Writes `text` to a new file only its owner can read, as ssh tools require of private keys.
    static func writePrivate(_ text: String, to path: String) throws {
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw Failure(description: "cannot write \(path)") }
    }

    /// The error `body` throws, or a failure if it throws none.
    static func agentError<Value>(_ body: () throws -> Value) throws -> SSHAgentError {
        do {
            _ = try body()
        } catch let error as SSHAgentError {
            return error
        }
        throw Failure(description: "no error thrown")
    }
}
