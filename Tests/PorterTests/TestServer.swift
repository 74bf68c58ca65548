import Foundation
import Logging
import NIOCore
import NIOPosix
import Porter
import PorterProtocol
import ServiceLifecycle

/// The token every test server and client shares.
let testToken = "test-token-0123456789"

/// The identity test servers present over TLS, made once per test run.
let testIdentity: ServerIdentity = {
    do { return try ServerIdentity.generate() } catch { fatalError("cannot generate a test identity: \(error)") }
}()

/// Runs a Porter server on `listen` (port 0 by default) while `body` runs, and always stops it.
///
/// Readiness is the server's own `onListening` callback with the bound endpoints: no sleeping. TCP listeners
/// use TLS with ``testIdentity`` unless `plaintext`; `configure` adjusts anything else.
/// How many times slower than usual the tests run: `PORTER_TEST_SLOWDOWN`, which reliability/sanitizers.sh sets
/// (a sanitizer slows everything several times). Deadlines that wait for something to happen scale by it; a
/// deadline a test checks fires on its own and needs no scaling.
let testSlowdown = ProcessInfo.processInfo.environment["PORTER_TEST_SLOWDOWN"].flatMap(Double.init) ?? 1

func withTestServer<Result: Sendable>(
    listen: [Endpoint] = [.tcp(host: "127.0.0.1", port: 0)],
    plaintext: Bool = false,
    authTimeout: Double = 30 * testSlowdown,
    idleTimeout: Double = 300,
    maxConnections: Int = 1024,
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: @Sendable (TestServer) async throws -> Result
) async throws -> Result {
    var configuration = ServerConfiguration(
        listen: listen,
        token: testToken,
        transport: plaintext ? .plaintext : .tls(testIdentity),
        serverName: "test-host",
        maxConnections: maxConnections,
        authTimeout: authTimeout,
        idleTimeout: idleTimeout
    )
    configure(&configuration)
    var logger = Logger(label: "porter.test")
    logger.logLevel = .critical
    let (bound, continuation) = AsyncStream.makeStream(of: ([Endpoint], [BoundFrontDoor]).self)
    let endpoints = Locked<[Endpoint]>([])
    let server = try PorterServer(
        configuration: configuration, logger: logger,
        onListening: { bound in endpoints.withLock { $0 = bound } },
        onFrontDoors: { doors in
            continuation.yield((endpoints.withLock { $0 }, doors))
            continuation.finish()
        })
    // In a service group, as `porter serve` runs it, so that a test can shut it down gracefully.
    let stopped = Locked(false)
    let lifecycle = ServiceGroup(
        configuration: .init(services: [RunUntilStopped(server: server, stopped: stopped)], logger: logger))
    let running = Task { try await lifecycle.run() }
    return try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask {
            // However the server ends, even failing to bind, the wait for it to listen ends too.
            defer { continuation.finish() }
            try await withTaskCancellationHandler {
                try await running.value
            } onCancel: {
                running.cancel()
            }
            return nil
        }
        defer { group.cancelAll() }
        guard let (endpoints, doors) = await bound.first(where: { _ in true }) else {
            _ = try await group.next()
            throw TestFailure("server stopped before listening")
        }
        return try await body(
            TestServer(
                endpoints: endpoints, doors: doors, server: server, plaintext: plaintext, lifecycle: lifecycle,
                stopNow: { running.cancel() }, stopped: stopped))
    }
}

/// Runs a server, and notes when its `run` has returned.
private struct RunUntilStopped: Service {
    let server: PorterServer
    let stopped: Locked<Bool>

    func run() async throws {
        defer { stopped.withLock { $0 = true } }
        try await server.run()
    }
}

struct TestServer: Sendable {
    let endpoints: [Endpoint]
    /// The other listeners: UDP echo, classic listeners.
    let doors: [BoundFrontDoor]
    let server: PorterServer
    let plaintext: Bool
    /// The service group the server runs in.
    let lifecycle: ServiceGroup
    /// Cancels the service group, as a second signal does under `porter serve`.
    let stopNow: @Sendable () -> Void
    /// Whether the server's `run` has returned.
    let stopped: Locked<Bool>

    var endpoint: Endpoint { endpoints[0] }

    /// Starts a graceful shutdown, as the first SIGTERM does under `porter serve`.
    func shutDown() async {
        await lifecycle.triggerGracefulShutdown()
    }

    /// Whether the server has stopped: its `run` returned.
    var hasStopped: Bool { stopped.withLock { $0 } }

    /// The port of the listener called `name`, e.g. `udp echo`.
    func port(of name: String) throws -> Int {
        guard let door = doors.first(where: { $0.name == name }),
            let port = Int(door.address.split(separator: ":").last ?? "")
        else { throw TestFailure("no \(name) listener") }
        return port
    }

    /// The transport a well-configured client uses: TLS pinned to ``testIdentity``, or plaintext.
    var transport: ClientTransport { plaintext ? .plaintext : .tls(.pinned(testIdentity.fingerprint)) }

    /// Connects with `token` and runs `body`; by default over ``transport``.
    func withClient<Result: Sendable>(
        at endpoint: Endpoint? = nil,
        token: String = testToken,
        transport: ClientTransport? = nil,
        connectTimeout: Double = 30 * testSlowdown,
        _ body: (ClientConnection) async throws -> Result
    ) async throws -> Result {
        let configuration = ClientConfiguration(
            token: token, transport: transport ?? self.transport, connectTimeout: connectTimeout)
        return try await PorterClient.withConnection(to: endpoint ?? self.endpoint, configuration: configuration, body)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Sends raw `bytes` to `endpoint` and returns everything the server sends until it closes the connection.
func rawExchange(with endpoint: Endpoint, sending bytes: [UInt8], from source: String? = nil) async throws -> [UInt8] {
    guard case .tcp(let host, let port) = endpoint else { throw TestFailure("raw exchanges use TCP") }
    var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
    let channel = try await bootstrap.connect(host: host, port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
    }
    return try await channel.executeThenClose { inbound, outbound in
        if !bytes.isEmpty { try await outbound.write(ByteBuffer(bytes: bytes)) }
        var received: [UInt8] = []
        for try await chunk in inbound { received += chunk.readableBytesView }
        return received
    }
}

/// Decodes the frames in `bytes`.
func frames(in bytes: [UInt8]) throws -> [Frame] {
    var buffer = ByteBuffer(bytes: bytes)
    var decoder = FrameDecoder()
    var result: [Frame] = []
    while let frame = try decoder.decode(buffer: &buffer) { result.append(frame) }
    return result
}

/// Waits until `condition` holds, checking every 10 ms for at most `seconds`.
func waitUntil(seconds: Double = 30, _ condition: @Sendable () -> Bool) async throws {
    let seconds = seconds * testSlowdown
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("condition not met within \(seconds) s") }
        try await Task.sleep(for: .milliseconds(10))
    }
}
