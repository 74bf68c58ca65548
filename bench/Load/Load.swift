import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import Porter
import PorterProtocol
import Synchronization

/// Load for reliability/load.sh: many idle authenticated connections, or a crowded chat room with slow readers.
/// Each prints JSON lines of results on standard output.
@main
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porter-load",
        abstract: "Holds many authenticated connections, or fills a chat room, against a Porter server.",
        subcommands: [Idle.self, Room.self, Stall.self]
    )
}

/// Where the server is and how to authenticate.
struct ServerOptions: ParsableArguments {
    @Option var host = "127.0.0.1"
    @Option var port: Int
    @Option(name: .customLong("token-file")) var tokenFile: String?
    @Option(help: "The server's identity (default: trust ~/.porter's own or known_hosts).") var fingerprint: String?
    @Flag(help: "Connect without TLS, to a server started with --plaintext.") var plaintext = false
    func client() throws -> ClientConfiguration {
        let trust = fingerprint.flatMap(Fingerprint.init).map(HostTrust.pinned) ?? .knownHosts(firstContact: .refuse)
        return ClientConfiguration(
            token: try TokenFile.load(at: tokenFile ?? TokenFile.defaultPath),
            transport: plaintext ? .plaintext : .tls(trust), connectTimeout: 60)
    }

    var endpoint: Endpoint { .tcp(host: host, port: port) }
}

/// Opens connections `window` at a time until `count` are attempted, then reports; the tasks it started keep
/// running (each holds its connection) until the caller's group ends.
func openConnections(
    count: Int, window: Int, in group: inout ThrowingTaskGroup<Bool, any Error>,
    _ connect: @escaping @Sendable (_ up: @escaping @Sendable (Bool) -> Void) async -> Bool
) async -> (up: Int, failed: Int) {
    let (signals, signal) = AsyncStream.makeStream(of: Bool.self)
    var outcomes = signals.makeAsyncIterator()
    var inFlight = 0
    var up = 0
    var failed = 0
    func settleOne() async {
        if await outcomes.next() == true { up += 1 } else { failed += 1 }
        inFlight -= 1
    }
    for _ in 0..<count {
        if inFlight == window { await settleOne() }
        inFlight += 1
        group.addTask {
            let outcome = Outcome(signal)
            let alive = await connect(outcome.report)
            outcome.report(false)
            return alive
        }
    }
    while inFlight > 0 { await settleOne() }
    return (up, failed)
}

/// Reports exactly one outcome for a connection: up once authenticated, or failed if it never got there.
final class Outcome: Sendable {
    private let reported = Atomic<Bool>(false)
    private let signal: AsyncStream<Bool>.Continuation

    init(_ signal: AsyncStream<Bool>.Continuation) { self.signal = signal }

    @Sendable func report(_ up: Bool) {
        if !reported.exchange(true, ordering: .relaxed) { signal.yield(up) }
    }
}

/// Prints one JSON object as a line and flushes, so a script can act on it at once.
func emit(_ object: [String: Any]) throws {
    var line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    line.append(UInt8(ascii: "\n"))
    FileHandle.standardOutput.write(line)
}

/// A one-way gate many tasks wait at until it opens.
final class Gate: Sendable {
    private let state = Locked<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { waiter in
            let passed = state.withLock { state in
                if !state.open { state.waiters.append(waiter) }
                return state.open
            }
            if passed { waiter.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

extension Duration {
    var inSeconds: Double { self / .seconds(1) }
}

extension Load {
    /// Opens `count` connections that authenticate and then stay idle (keepalives only), holds them, then
    /// checks each is still alive with a ping.
    struct Idle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open many authenticated connections, hold them idle, then ping each.",
            discussion: """
                Prints {"phase":"held",...} once every connection has been tried (the accept rate is the \
                connections up divided by the seconds that took), holds them for --hold seconds, then prints \
                {"phase":"checked",...} with how many answered a ping. Connections are driven on the event loop \
                (see HeldConnection), so that the load costs less than the server it measures; over TLS the \
                server's certificate is not checked.
                """)

        @OptionGroup var server: ServerOptions
        @Option var connections = 10_000
        @Option(help: "Connections being opened at once (keep within the server's --max-unauthenticated).")
        var window = 256
        @Option(
            help:
                "Source addresses 127.0.0.1 to 127.0.0.N the connections come from, in turn, as from several hosts (each within the server's --max-unauthenticated-per-source)."
        )
        var sources = 4
        @Option(help: "Seconds to hold every connection open once all are up.") var hold: Double = 10
        @Flag(help: "Plain TCP to an upper-case echo server (a baseline): connected means up, one echoed byte a ping.")
        var raw = false

        func run() async throws {
            let kind: HeldConnection.Kind =
                raw
                ? .raw
                : .porter(
                    token: try TokenFile.load(at: server.tokenFile ?? TokenFile.defaultPath),
                    tls: server.plaintext ? nil : try HeldConnection.tlsContext())
            let address = try SocketAddress.makeAddressResolvingHost(server.host, port: server.port)
            let sources = try (1...max(sources, 1)).map { try SocketAddress(ipAddress: "127.0.0.\($0)", port: 0) }
            let start = ContinuousClock.now
            let (up, failed) = await HeldConnection.openAll(count: connections, window: window) { number in
                HeldConnection.open(
                    from: address.protocol == .inet ? sources[number % sources.count] : nil, to: address, kind)
            }
            let seconds = (ContinuousClock.now - start).inSeconds
            try emit([
                "phase": "held", "connections": connections, "up": up.count, "failed": failed,
                "seconds": (seconds * 1000).rounded() / 1000, "per_second": (Double(up.count) / seconds).rounded(),
            ])
            try await Task.sleep(for: .seconds(hold))
            let checks = up.map { $0.check() }
            let results = try await EventLoopFuture.whenAllComplete(
                checks, on: MultiThreadedEventLoopGroup.singleton.next()
            ).get()
            let alive = results.filter { if case .success = $0 { true } else { false } }.count
            try emit(["phase": "checked", "alive": alive, "connections": connections])
        }
    }
}

extension Load {
    /// One room, many members: some send at a steady pace, the others read everything, and some never read.
    struct Room: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "room",
            abstract: "Fill a chat room; check every reader gets every message while slow readers are dropped.")

        @OptionGroup var server: ServerOptions
        @Option var members = 200
        @Option(help: "Members that never read (they should be disconnected, not slow everyone down).")
        var slow = 1
        @Option(help: "Members that send; every member but the slow ones reads.") var senders = 10
        @Option(help: "Messages each sender sends.") var messages = 500
        @Option(help: "Messages per second from all senders together.") var rate: Double = 200
        @Option(help: "Bytes of text in a message (enough in all to fill a non-reader's socket buffers).")
        var size = 1024
        @Option var room = "load"

        func run() async throws {
            let client = try server.client()
            let endpoint = server.endpoint
            let total = senders * messages
            let go = Gate()
            let text = String(repeating: "m", count: max(0, size - 12))
            let interval = Duration.seconds(Double(senders) / rate)
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Bool.self) { group in
                let (up, failed) = await openConnections(count: members, window: 32, in: &group) { [self] report in
                    await member(endpoint, client, report) { index, chat in
                        await go.wait()
                        if index < slow { return try await slowReader(chat, total: total) }
                        guard index < slow + senders else { return try await receive(chat, expecting: total) }
                        // A sender hears everyone but itself.
                        let sender = chat.sender
                        async let sending: Void = {
                            for number in 0..<messages {
                                try await sender.say("\(number) \(text)")
                                try await Task.sleep(for: interval)
                            }
                        }()
                        let complete = try await receive(chat, expecting: total - messages)
                        try await sending
                        return complete
                    }
                }
                try emit(["phase": "joined", "members": members, "up": up, "failed": failed])
                go.open()
                var complete = 0
                for try await ok in group where ok { complete += 1 }
                let seconds = (ContinuousClock.now - start).inSeconds
                try emit([
                    "phase": "done", "complete": complete, "members": members, "messages": total,
                    "seconds": (seconds * 1000).rounded() / 1000,
                ])
            }
        }

        private static let counter = Atomic<Int>(0)

        /// Joins the room as the next member and runs `body` with its index; reports the join.
        private func member(
            _ endpoint: Endpoint, _ client: ClientConfiguration, _ report: @escaping @Sendable (Bool) -> Void,
            _ body: @escaping @Sendable (Int, ChatSession) async throws -> Bool
        ) async -> Bool {
            let index = Self.counter.add(1, ordering: .relaxed).oldValue
            do {
                return try await PorterClient.withConnection(to: endpoint, configuration: client) { connection in
                    let chat = try await connection.joinChat(room: room, name: "member\(index)")
                    report(true)
                    return try await body(index, chat)
                }
            } catch {
                FileHandle.standardError.write(Data("member \(index): \(error)\n".utf8))
                return false
            }
        }

        /// Reads until `count` messages arrived: true if they all did.
        private func receive(_ chat: ChatSession, expecting count: Int) async throws -> Bool {
            var received = 0
            while received < count, let event = try await chat.nextEvent() {
                if case .chat(.message) = event { received += 1 }
            }
            return received == count
        }

        /// Reads nothing until the senders are done, then drains what the server sent before it dropped this
        /// member. Counts as complete (true) when it was dropped, that is, got less than everything.
        private func slowReader(_ chat: ChatSession, total: Int) async throws -> Bool {
            try await Task.sleep(for: .seconds(Double(total) / rate + 5))
            var received = 0
            do {
                while received < total, let event = try await chat.nextEvent() {
                    if case .chat(.message) = event { received += 1 }
                }
            } catch {}
            try emit(["phase": "slow-reader", "received": received, "sent": total, "dropped": received < total])
            return received < total
        }
    }
}
