import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import Porter
import PorterProtocol

/// Drives request/response echo load over many connections and prints one JSON line of results.
@main
struct EchoLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porter-echo-load",
        abstract:
            "Echo load generator: N connections, each sending SIZE bytes and waiting for the answer, for S seconds."
    )

    enum Mode: String, ExpressibleByArgument {
        /// Plain TCP: send SIZE bytes, read SIZE bytes back (course-style echo servers).
        case raw
        /// Porter's client library: authenticate, open an echo channel, one data frame each way per request; the
        /// connection's loop runs on its own executor unless `--executor global`.
        case porter
        /// Raw frames over plaintext TCP, without the client library: authenticate, open one echo channel, one
        /// data frame each way per request.
        case frames
    }

    @Option var host = "127.0.0.1"
    @Option var port: Int
    @Option var mode: Mode = .raw
    @Option var connections = 10
    @Option(help: "Seconds of load after every connection is up.") var duration: Double = 5
    @Option var size = 64
    @Option(name: .customLong("token-file")) var tokenFile: String?
    @Option(help: "The server's identity (default: trust ~/.porter's own or known_hosts).") var fingerprint: String?
    @Flag(help: "Porter modes without TLS, against a server started with --plaintext (frames needs it).")
    var plaintext = false
    @Option(
        help: "Where --mode porter runs each connection's loop: on the connection's event loop, or the global executor."
    )
    var executor: Executor = .connection

    enum Executor: String, ExpressibleByArgument {
        /// `ClientConnection.taskExecutor`: the task runs on the thread that does the connection's I/O.
        case connection
        /// Swift's global executor, the default of any task.
        case global
    }

    func validate() throws {
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be a positive number") }
        guard size >= 1 else { throw ValidationError("--size must be at least 1") }
        guard mode != .frames || plaintext else {
            throw ValidationError(
                "--mode frames has no TLS yet: add --plaintext and start the server with --plaintext")
        }
    }

    func run() async throws {
        let token = try mode == .raw ? "" : TokenFile.load(at: tokenFile ?? TokenFile.defaultPath)
        let payload = ByteBuffer(repeating: UInt8(ascii: "a"), count: size)
        let answer = {
            var answer = payload
            EchoTransform.uppercaseASCII(&answer)
            return answer
        }()
        let start = ContinuousClock.now
        let deadline = start + .seconds(duration)
        let results = try await withThrowingTaskGroup(of: ConnectionResult.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    switch mode {
                    case .raw: try await rawLoop(payload: payload, until: deadline)
                    case .porter: try await porterLoop(payload: payload, token: token, until: deadline)
                    case .frames:
                        try await framesLoop(payload: payload, answer: answer, token: token, until: deadline)
                    }
                }
            }
            var all: [ConnectionResult] = []
            for try await result in group { all.append(result) }
            return all
        }
        let elapsed = ContinuousClock.now - start
        let seconds = elapsed / .seconds(1)
        var latencies = results.flatMap(\.latencies)
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            return Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1000
        }
        let summary: [String: Any] = [
            "mode": mode.rawValue, "connections": connections, "requests": latencies.count,
            "errors": results.reduce(0) { $0 + $1.errors }, "seconds": (seconds * 1000).rounded() / 1000,
            "rps": (Double(latencies.count) / seconds).rounded(), "p50_us": percentile(0.5), "p99_us": percentile(0.99),
        ]
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    struct ConnectionResult: Sendable {
        var latencies: [Int64] = []
        var errors = 0
    }

    private func porterLoop(payload: ByteBuffer, token: String, until deadline: ContinuousClock.Instant) async throws
        -> ConnectionResult
    {
        let trust = fingerprint.flatMap(Fingerprint.init).map(HostTrust.pinned) ?? .knownHosts(firstContact: .refuse)
        let configuration = ClientConfiguration(
            token: token, transport: plaintext ? .plaintext : .tls(trust), connectTimeout: 30)
        return try await PorterClient.withConnection(to: .tcp(host: host, port: port), configuration: configuration) {
            connection in
            try await withTaskExecutorPreference(executor == .connection ? connection.taskExecutor : nil) {
                let echo = try await connection.echo()
                var result = ConnectionResult()
                while ContinuousClock.now < deadline {
                    let sent = ContinuousClock.now
                    let answer = try await echo.roundTrip(payload)
                    result.record(since: sent, ok: answer.readableBytes == payload.readableBytes)
                }
                try await echo.sender.finish()
                while try await echo.receive() != nil {}
                return result
            }
        }
    }

    private func framesLoop(
        payload: ByteBuffer, answer: ByteBuffer, token: String, until deadline: ContinuousClock.Instant
    ) async throws -> ConnectionResult {
        try await FrameEchoConnection.run(host: host, port: port, token: token) { connection in
            var result = ConnectionResult()
            while ContinuousClock.now < deadline {
                let sent = ContinuousClock.now
                let ok = try await connection.roundTrip(payload, expecting: answer)
                result.record(since: sent, ok: ok)
            }
            try await connection.finish()
            return result
        }
    }

    private func rawLoop(payload: ByteBuffer, until deadline: ContinuousClock.Instant) async throws -> ConnectionResult
    {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var reads = inbound.makeAsyncIterator()
            var result = ConnectionResult()
            while ContinuousClock.now < deadline {
                let sent = ContinuousClock.now
                try await outbound.write(payload)
                var received = 0
                while received < payload.readableBytes, let chunk = try await reads.next() {
                    received += chunk.readableBytes
                }
                result.record(since: sent, ok: received == payload.readableBytes)
            }
            return result
        }
    }
}

extension EchoLoad.ConnectionResult {
    mutating func record(since sent: ContinuousClock.Instant, ok: Bool) {
        let elapsed = ContinuousClock.now - sent
        latencies.append(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        if !ok { errors += 1 }
    }
}
