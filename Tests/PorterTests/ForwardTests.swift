import Foundation
import NIOCore
import NIOPosix
import PorterProtocol
import Testing

@testable import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// `porter forward` through the library: local listeners whose connections one Porter connection carries to
/// targets on 127.0.0.1 (docs/design/protocol-2.md section 9).
@Suite(.timeLimit(.minutes(3))) struct ForwardTests {
    private static let anyTarget: @Sendable (inout ServerConfiguration) -> Void = { $0.forward.targets = .any }

    @Test func aHundredConnectionsAtOnceAreExactWhileACommandRunsOnTheSameConnection() async throws {
        try await withTarget(.echoUntilEnd) { target in
            try await withTestServer(configure: Self.anyTarget) { server in
                try await server.withClient { connection in
                    try await withForwarding(connection, [ForwardRule(bindPort: 0, host: "127.0.0.1", port: target)]) {
                        listeners, _ in
                        let command = Task { try await connection.run(["seq", "1", "100000"]) }
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for client in 0..<100 {
                                group.addTask {
                                    let sent = ChannelEchoTests.randomBytes(20_000 + client * 500, seed: UInt64(client))
                                    let received = try await exchange(with: listeners[0], sending: sent)
                                    #expect(received == sent, "connection \(client)")
                                }
                            }
                            try await group.waitForAll()
                        }
                        let result = try await command.value
                        #expect(String(buffer: result.standardOutput) == (1...100_000).map { "\($0)\n" }.joined())
                    }
                }
            }
        }
    }

    @Test func theTargetSeesEndOfInputAndStillAnswers() async throws {
        try await withTarget(.answerAtEnd) { target in
            try await withTestServer(configure: Self.anyTarget) { server in
                try await server.withClient { connection in
                    try await withForwarding(connection, [ForwardRule(bindPort: 0, host: "127.0.0.1", port: target)]) {
                        listeners, _ in
                        let received = try await exchange(with: listeners[0], sending: Array("question".utf8))
                        #expect(String(decoding: received, as: UTF8.self) == "QUESTION")
                    }
                }
            }
        }
    }

    @Test func theClientSeesEndOfInputAndStillSends() async throws {
        let heard = Locked<[UInt8]?>(nil)
        try await withTarget(.greetThenListen(heard)) { target in
            try await withTestServer(configure: Self.anyTarget) { server in
                try await server.withClient { connection in
                    try await withForwarding(connection, [ForwardRule(bindPort: 0, host: "127.0.0.1", port: target)]) {
                        listeners, _ in
                        try await withLocalConnection(to: listeners[0]) { inbound, outbound in
                            var greeting: [UInt8] = []
                            for try await chunk in inbound { greeting += chunk.readableBytesView }
                            #expect(String(decoding: greeting, as: UTF8.self) == "hello")
                            // Its input has ended; it still sends, and the target hears it.
                            try await outbound.write(ByteBuffer(string: "after your end"))
                            outbound.finish()
                        }
                        try await waitUntil { heard.withLock { $0 } != nil }
                        #expect(heard.withLock { $0 }.map { String(decoding: $0, as: UTF8.self) } == "after your end")
                    }
                }
            }
        }
    }

    /// A forward is on the status page while it is open, and its bytes are counted in the metrics once it ends.
    @Test func aForwardIsShownWhileOpenAndCountedOnceEnded() async throws {
        try await withTarget(.echoUntilEnd) { target in
            try await withTestServer(configure: Self.anyTarget) { server in
                try await server.withClient { connection in
                    try await withForwarding(connection, [ForwardRule(bindPort: 0, host: "127.0.0.1", port: target)]) {
                        listeners, _ in
                        try await withLocalConnection(to: listeners[0]) { inbound, outbound in
                            try await outbound.write(ByteBuffer(string: "seen"))
                            var iterator = inbound.makeAsyncIterator()
                            let echoed = try await iterator.next()
                            #expect(echoed.map { String(buffer: $0) } == "seen")
                            let forwards = server.server.status().forwards
                            #expect(forwards.count == 1)
                            #expect(forwards.first?.target == "127.0.0.1:\(target)")
                            #expect(forwards.first?.toTarget == 4 && forwards.first?.fromTarget == 4)
                            outbound.finish()
                            while try await iterator.next() != nil {}
                        }
                        try await waitUntil { server.server.status().forwards.isEmpty }
                        let metrics = server.server.activity.metrics(server.server.status())
                        #expect(metrics.contains("porter_forwards_opened_total 1"), "\(metrics)")
                        #expect(metrics.contains("porter_forward_bytes_sent_total 4"))
                        #expect(metrics.contains("porter_forward_bytes_received_total 4"))
                        #expect(metrics.contains("porter_forwards_open 0"))
                    }
                }
            }
        }
    }

    /// A local connection that sends its request and ends its input while its open waits for a free channel (a
    /// command holds the only one): what it sent, and its end, reach the target once the channel frees.
    @Test func whatALocalConnectionSendsWhileItsOpenWaitsReachesTheTarget() async throws {
        let oneChannel: @Sendable (inout ServerConfiguration) -> Void = {
            $0.forward.targets = .any
            $0.channelLimits = ChannelLimits(maxChannels: 1)
        }
        try await withTarget(.answerAtEnd) { target in
            try await withTestServer(configure: oneChannel) { server in
                try await server.withClient { connection in
                    let command = try await connection.exec(["sleep", "30"])
                    try await withForwarding(connection, [ForwardRule(bindPort: 0, host: "127.0.0.1", port: target)]) {
                        listeners, _ in
                        try await withLocalConnection(to: listeners[0]) { inbound, outbound in
                            // The request and its end go while the command holds the channel; it then frees.
                            try await outbound.write(ByteBuffer(string: "waited"))
                            outbound.finish()
                            command.close()
                            var received: [UInt8] = []
                            for try await chunk in inbound { received += chunk.readableBytesView }
                            #expect(String(decoding: received, as: UTF8.self) == "WAITED")
                        }
                    }
                }
            }
        }
    }

    /// A target that resets its connection: the forward ends with the server's `fail forward-error`, and the local
    /// connection is closed.
    @Test func aTargetThatResetsEndsTheForwardWithAFailure() async throws {
        try await withTarget(.resetOnFirstRead) { target in
            try await withTestServer(configure: Self.anyTarget) { server in
                try await server.withClient { connection in
                    try await withForwarding(connection, [ForwardRule(bindPort: 0, host: "127.0.0.1", port: target)]) {
                        listeners, events in
                        _ = try await exchange(with: listeners[0], sending: Array("reset me".utf8))
                        try await waitUntil {
                            events.withLock { $0 }.contains { if case .closed = $0 { true } else { false } }
                        }
                        let failures = events.withLock { $0 }.compactMap { event -> String? in
                            guard case .closed(_, _, _, _, let failure) = event else { return nil }
                            return failure
                        }
                        #expect(failures.count == 1)
                        #expect(failures.first?.contains("the target's connection failed") == true, "\(failures)")
                    }
                }
            }
        }
    }

    /// A target that never reads stops its own forward, and only that one: another forward on the same
    /// connection carries a megabyte both ways meanwhile, exactly.
    @Test func aTargetThatNeverReadsHoldsUpNoOtherForward() async throws {
        try await withTarget(.neverRead) { stalledTarget in
            try await withTarget(.echoUntilEnd) { echoTarget in
                try await forwarding(to: [stalledTarget, echoTarget]) { connection, listeners, _ in
                    try await withLocalConnection(to: listeners[0]) { _, stalledOutbound in
                        // Far more than every buffer and window on the way; it stops once they are full.
                        let flood = Task {
                            for _ in 0..<256 {
                                try await stalledOutbound.write(ByteBuffer(repeating: 0x61, count: 1 << 16))
                            }
                        }
                        let sent = ChannelEchoTests.randomBytes(1 << 20, seed: 9)
                        let received = try await exchange(with: listeners[1], sending: sent)
                        #expect(received == sent)
                        _ = try await connection.ping()
                        flood.cancel()
                    }
                }
            }
        }
    }

    /// A target nobody listens on: the local connection is closed and the refusal reported; the same listener
    /// and another go on.
    @Test func aRefusedTargetClosesOnlyItsLocalConnection() async throws {
        try await withRefusingPort { closedPort in
            try await withTarget(.echoUntilEnd) { target in
                try await forwarding(to: [closedPort, target]) { connection, listeners, events in
                    for _ in 0..<2 {
                        let received = try await exchange(with: listeners[0], sending: Array("lost".utf8))
                        #expect(received.isEmpty)
                    }
                    try await waitUntil { events.withLock { $0 }.count == 2 }
                    let refusals = events.withLock { $0 }.compactMap { event -> String? in
                        guard case .refused(_, _, let message) = event else { return nil }
                        return message
                    }
                    #expect(refusals.count == 2)
                    #expect(refusals.allSatisfy { $0.contains("connection refused") }, "\(refusals)")
                    let received = try await exchange(with: listeners[1], sending: Array("kept".utf8))
                    #expect(received == Array("kept".utf8))
                    _ = try await connection.ping()
                }
            }
        }
    }

    @Test func withoutAllowForwardAndOffTheListForwardingIsNotPermitted() async throws {
        try await withTarget(.echoUntilEnd) { target in
            let onlyPortOne: (inout ServerConfiguration) -> Void = {
                $0.forward.targets = .only([try! ForwardTarget(parsing: "127.0.0.1:1")])
            }
            for (configure, expected) in [
                ({ (_: inout ServerConfiguration) in }, "start it with --allow-forward"),
                (onlyPortOne, "is not allowed; this server allows 127.0.0.1:1"),
            ] {
                try await withTestServer(configure: configure) { server in
                    try await server.withClient { connection in
                        let rule = ForwardRule(bindPort: 0, host: "127.0.0.1", port: target)
                        try await withForwarding(connection, [rule]) { listeners, events in
                            let received = try await exchange(with: listeners[0], sending: Array("x".utf8))
                            #expect(received.isEmpty)
                            try await waitUntil { !events.withLock { $0 }.isEmpty }
                            guard case .refused(_, _, let message)? = events.withLock({ $0 }).first else {
                                Issue.record("not refused: \(events.withLock { $0 })")
                                return
                            }
                            #expect(message.contains(expected), "\(message)")
                        }
                    }
                }
            }
        }
    }

    @Test func forwardingNeedsRulesInRange() async throws {
        try await withTestServer(configure: Self.anyTarget) { server in
            try await server.withClient { connection in
                for rule in [
                    ForwardRule(bindPort: 0, host: "127.0.0.1", port: 0),
                    ForwardRule(bindPort: 70_000, host: "127.0.0.1", port: 80),
                    ForwardRule(bindPort: 0, host: "", port: 80),
                ] {
                    let error = await #expect(throws: PorterError.self) {
                        try await connection.forward([rule]) { _ in }
                    }
                    #expect(error?.kind == .configuration, "\(rule)")
                }
            }
        }
    }

    /// `porter forward` as people run it: one line per listener once all are bound, connections carried, and
    /// Ctrl-C ends it with status 0; `porter serve --allow-forward-to` without `--allow-forward` is a usage error.
    @Test func theCommandForwardsUntilInterrupted() async throws {
        let base = NSTemporaryDirectory() + "porter-forward-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let token = base + "/token"
        #expect(
            FileManager.default.createFile(
                atPath: token, contents: Data(testToken.utf8), attributes: [.posixPermissions: 0o600]))
        try await withTarget(.answerAtEnd) { target in
            try await withTestServer(configure: Self.anyTarget) { server in
                let errors = base + "/errors"
                let client = try TestProcess.start(
                    [
                        TestProcess.porter, "forward", "\(server.endpoint)", "--token-file", token, "--fingerprint",
                        "\(testIdentity.fingerprint)", "-L", "0:127.0.0.1:\(target)",
                    ], errors: errors)
                let line = { @Sendable () -> String? in
                    (try? String(contentsOfFile: errors, encoding: .utf8))?.split(separator: "\n").first.map(
                        String.init)
                }
                try await waitUntil { line() != nil }
                let words = (line() ?? "").split(separator: " ")
                #expect(words.count == 6 && words[0] == "forwarding" && words[2] == "->" && words[4] == "via")
                #expect(words.count == 6 && words[3] == "127.0.0.1:\(target)" && words[5] == "\(server.endpoint)")
                let listener = try Endpoint(parsing: words.count > 1 ? String(words[1]) : "")
                let received = try await exchange(with: listener, sending: Array("through the command".utf8))
                #expect(String(decoding: received, as: UTF8.self) == "THROUGH THE COMMAND")
                client.signal(SIGINT)
                #expect(try await client.wait() == 0)
            }
        }
        let refused = try await TestProcess.run([
            TestProcess.porter, "serve", "--listen", "127.0.0.1:0", "--allow-forward-to", "127.0.0.1",
        ])
        #expect(refused.status == 64)
        #expect(refused.errors.contains("add --allow-forward"), "\(refused.errors)")
    }

    @Test func rulesParseAsSSHWritesThem() throws {
        #expect(
            try ForwardRule(parsing: "8080:example.com:80")
                == ForwardRule(bindHost: "127.0.0.1", bindPort: 8080, host: "example.com", port: 80))
        #expect(
            try ForwardRule(parsing: "0.0.0.0:0:10.0.0.1:22")
                == ForwardRule(bindHost: "0.0.0.0", bindPort: 0, host: "10.0.0.1", port: 22))
        #expect(
            try ForwardRule(parsing: "[::1]:8080:[fe80::1]:443")
                == ForwardRule(bindHost: "::1", bindPort: 8080, host: "fe80::1", port: 443))
        #expect(try ForwardRule(parsing: "[::1]:8080:[fe80::1]:443").description == "[::1]:8080:[fe80::1]:443")
        for bad in [
            "", "8080", "8080:host", "x:host:80", "8080:host:0", "8080:host:65536", "70000:h:1", "[::1:1:h:2",
            "1:2:3:4:5", "8080::80",
        ] {
            #expect(throws: PorterError.self, "\(bad)") { try ForwardRule(parsing: bad) }
        }
    }

    @Test func allowedTargetsCompareHostsAsTextInCanonicalForm() throws {
        let name = try ForwardTarget(parsing: "DB.Example.com:5432")
        #expect(name.matches(host: "db.example.com", port: 5432))
        #expect(!name.matches(host: "db.example.com", port: 5433))
        #expect(!name.matches(host: "10.0.0.5", port: 5432), "no name is resolved")
        let v6 = try ForwardTarget(parsing: "[0:0:0:0:0:0:0:1]")
        #expect(v6.matches(host: "::1", port: 1) && v6.matches(host: "::1", port: 65_535))
        #expect(v6.description == "[::1]")
        #expect(try ForwardTarget(parsing: "[::1]:22").description == "[::1]:22")
        #expect(try ForwardTarget(parsing: "::1").matches(host: "0::1", port: 9))
        for bad in ["", "host:0", "host:x", "[::1", "[::1]x", "a b", "h:70000"] {
            #expect(throws: PorterError.self, "\(bad)") { try ForwardTarget(parsing: bad) }
        }
    }
}

extension ForwardTests {
    /// Reads from `inbound` until `count` bytes have arrived.
    private static func read(
        _ count: Int, from inbound: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    ) async throws -> String {
        var received = ByteBuffer()
        while received.readableBytes < count, var chunk = try await inbound.next() { received.writeBuffer(&chunk) }
        return String(buffer: received)
    }

    @Test func whenTheServerShutsDownTheListenersCloseAndOpenForwardsFinish() async throws {
        try await withTarget(.echoUntilEnd) { port in
            let configure: @Sendable (inout ServerConfiguration) -> Void = {
                $0.forward.targets = .any
                $0.shutdownGrace = 300
            }
            try await withTestServer(configure: configure) { server in
                try await server.withClient { connection in
                    let events = Locked<[ForwardEvent]>([])
                    let rule = ForwardRule(bindPort: 0, host: "127.0.0.1", port: port)
                    let forwarding = Task {
                        try await connection.forward([rule]) { e in events.withLock { $0.append(e) } }
                    }
                    defer { forwarding.cancel() }
                    let listening = { @Sendable () -> String? in
                        for case .listening(_, let address) in events.withLock({ $0 }) { return address }
                        return nil
                    }
                    try await waitUntil { listening() != nil }
                    let listener = try Endpoint(parsing: listening() ?? "")
                    let shuttingDown = { @Sendable in
                        events.withLock { $0.contains { if case .serverShuttingDown = $0 { true } else { false } } }
                    }
                    try await withLocalConnection(to: listener) { inbound, outbound in
                        var iterator = inbound.makeAsyncIterator()
                        try await outbound.write(ByteBuffer(string: "before"))
                        #expect(try await Self.read(6, from: &iterator) == "before")
                        await server.shutDown()
                        try await waitUntil { shuttingDown() }
                        // The listener is closed; the forward open goes on.
                        await #expect(throws: (any Error).self) {
                            _ = try await exchange(with: listener, sending: Array("x".utf8))
                        }
                        try await outbound.write(ByteBuffer(string: "during"))
                        #expect(try await Self.read(6, from: &iterator) == "during")
                        outbound.finish()
                        #expect(try await iterator.next() == nil)
                    }
                    // Its last channel done, the server closes the connection, and forwarding ends with why.
                    do {
                        try await forwarding.value
                        Issue.record("forwarding ended without an error")
                    } catch let error as PorterError {
                        #expect(error.code == .shuttingDown, "\(error)")
                    }
                }
                try await waitUntil { server.hasStopped }
            }
        }
    }
}

/// Runs a server that forwards anywhere, a client connected to it, and a forward to each of `ports` on 127.0.0.1
/// while `body` runs.
private func forwarding(
    to ports: [Int],
    _ body: @escaping @Sendable (ClientConnection, [Endpoint], Locked<[ForwardEvent]>) async throws -> Void
) async throws {
    let anyTarget: @Sendable (inout ServerConfiguration) -> Void = { $0.forward.targets = .any }
    try await withTestServer(configure: anyTarget) { server in
        try await server.withClient { connection in
            let rules = ports.map { ForwardRule(bindPort: 0, host: "127.0.0.1", port: $0) }
            try await withForwarding(connection, rules) { listeners, events in
                try await body(connection, listeners, events)
            }
        }
    }
}

/// Forwards `rules` over `connection` while `body` runs, with the listeners' bound endpoints and the events so far.
func withForwarding(
    _ connection: ClientConnection, _ rules: [ForwardRule],
    _ body: ([Endpoint], Locked<[ForwardEvent]>) async throws -> Void
) async throws {
    let events = Locked<[ForwardEvent]>([])
    let (listening, announce) = AsyncStream.makeStream(of: String.self)
    let forwarding = Task {
        defer { announce.finish() }
        try await connection.forward(rules) { event in
            if case .listening(_, let address) = event {
                announce.yield(address)
            } else {
                events.withLock { $0.append(event) }
            }
        }
    }
    defer { forwarding.cancel() }
    var listeners: [Endpoint] = []
    for await address in listening {
        listeners.append(try Endpoint(parsing: address))
        if listeners.count == rules.count { break }
    }
    guard listeners.count == rules.count else {
        try await forwarding.value
        throw TestFailure("the listeners never came up")
    }
    try await body(listeners, events)
    forwarding.cancel()
    try await forwarding.value
}

/// Connects to `endpoint` with half-closure on both ways and runs `body` with the connection's two halves.
private func withLocalConnection<Result: Sendable>(
    to endpoint: Endpoint,
    _ body: (NIOAsyncChannelInboundStream<ByteBuffer>, NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> Result
) async throws -> Result {
    guard case .tcp(let host, let port) = endpoint else { throw TestFailure("forwards listen on TCP") }
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        .connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel,
                    configuration: .init(isOutboundHalfClosureEnabled: true))
            }
        }
    return try await channel.executeThenClose { inbound, outbound in try await body(inbound, outbound) }
}

/// Sends `bytes` on a new local connection to `endpoint`, ends its output, and returns all it receives until the
/// other end closes (nothing, if the connection is closed or reset at once).
func exchange(with endpoint: Endpoint, sending bytes: [UInt8]) async throws -> [UInt8] {
    try await withLocalConnection(to: endpoint) { inbound, outbound in
        try? await outbound.write(ByteBuffer(bytes: bytes))
        outbound.finish()
        var received: [UInt8] = []
        do {
            for try await chunk in inbound { received += chunk.readableBytesView }
        } catch {
            // A reset: what arrived before it is the answer.
        }
        return received
    }
}

/// Runs `body` with a port on 127.0.0.1 that refuses connections: a socket holds it bound but never listens,
/// so a connection to it is reset, and no other server (another test's, say) can take the port meanwhile.
private func withRefusingPort(_ body: (Int) async throws -> Void) async throws {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(socket >= 0)
    defer { Glibc.close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0
        }
    }
    try #require(bound)
    try await body(Int(UInt16(bigEndian: address.sin_port)))
}

/// What a test target does with each connection.
enum TargetBehaviour: Sendable {
    /// Sends back what it reads, as it reads it, and ends its output after its input.
    case echoUntilEnd
    /// Reads to the end of its input, then answers it upper-cased and closes.
    case answerAtEnd
    /// Says `hello` and ends its output at once; then keeps what it hears until its input ends.
    case greetThenListen(Locked<[UInt8]?>)
    /// Resets the connection (SO_LINGER 0, then close) on its first read.
    case resetOnFirstRead
    /// Never reads.
    case neverRead
}

/// Runs a TCP target on 127.0.0.1 while `body` runs, with its port.
func withTarget(_ behaviour: TargetBehaviour, _ body: (Int) async throws -> Void) async throws {
    let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if case .neverRead = behaviour {
                    try channel.pipeline.syncOperations.addHandler(NeverReads())
                }
                try channel.pipeline.syncOperations.addHandler(TargetHandler(behaviour))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    defer { listener.close(promise: nil) }
    try await body(listener.localAddress?.port ?? 0)
}

/// Swallows every read the pipeline asks for, so that the socket is never read.
private final class NeverReads: ChannelOutboundHandler {
    typealias OutboundIn = Any

    func read(context: ChannelHandlerContext) {}
}

private final class TargetHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let behaviour: TargetBehaviour
    private var heard: [UInt8] = []

    init(_ behaviour: TargetBehaviour) {
        self.behaviour = behaviour
    }

    func channelActive(context: ChannelHandlerContext) {
        if case .greetThenListen = behaviour {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "hello")), promise: nil)
            context.close(mode: .output, promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        switch behaviour {
        case .echoUntilEnd: context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        case .answerAtEnd, .greetThenListen, .neverRead: heard += bytes.readableBytesView
        case .resetOnFirstRead:
            let channel = context.channel
            (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                .whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A socket whose output ended first closes at the end of its input without an inputClosed event.
        if case .greetThenListen(let result) = behaviour {
            let heard = self.heard
            result.withLock { $0 = heard }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .inputClosed = event as? ChannelEvent else { return }
        switch behaviour {
        case .echoUntilEnd:
            context.close(mode: .output, promise: nil)
        case .answerAtEnd:
            let answer = String(decoding: heard, as: UTF8.self).uppercased()
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer))).assumeIsolated().whenComplete { _ in
                channel.close(promise: nil)
            }
        case .greetThenListen, .resetOnFirstRead, .neverRead:
            context.close(promise: nil)
        }
    }
}
