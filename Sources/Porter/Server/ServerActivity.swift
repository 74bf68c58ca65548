import CoreMetrics
import Prometheus
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// What a server is doing, for its status page and `/metrics`: the commands and transfers in progress, and
/// counters kept with swift-metrics in a Prometheus registry of the server's own.
public final class ServerActivity: Sendable {
    /// When the server started.
    public let started = Date()
    /// The registry `/metrics` emits.
    let registry = PrometheusCollectorRegistry()

    let connectionsAccepted: CoreMetrics.Counter
    let commandsStarted: CoreMetrics.Counter
    let filesSent: CoreMetrics.Counter
    let filesReceived: CoreMetrics.Counter
    let bytesSent: CoreMetrics.Counter
    let bytesReceived: CoreMetrics.Counter
    let httpRequests: CoreMetrics.Counter
    /// Set from the live state each time metrics are read.
    private let gauges: [String: CoreMetrics.Gauge]

    private struct Live {
        var nextID: UInt64 = 0
        var commands: [UInt64: Command] = [:]
        var transfers: [UInt64: Transfer] = [:]
    }

    private let live = Locked(Live())

    /// A running command.
    public struct Command: Sendable, Codable, Equatable {
        /// Its process id.
        public var pid: Int
        /// Its program.
        public var program: String
        /// When it started.
        public var started: Date
    }

    /// A transfer in progress.
    public final class Transfer: Sendable {
        /// The path under the root.
        public let path: String
        /// `get` (the server sends) or `put` (it receives).
        public let direction: String
        /// The file's size.
        public let size: Int64
        /// When it started.
        public let started: Date
        private let moved = Atomic<Int64>(0)

        init(path: String, direction: String, size: Int64) {
            self.path = path
            self.direction = direction
            self.size = size
            self.started = Date()
        }

        /// Bytes moved so far.
        public var bytes: Int64 { moved.load(ordering: .relaxed) }

        /// Records that the transfer has reached `bytes`.
        func progress(to bytes: Int64) { moved.store(bytes, ordering: .relaxed) }
    }

    init() {
        let factory = PrometheusMetricsFactory(registry: registry)
        func counter(_ name: String) -> CoreMetrics.Counter { CoreMetrics.Counter(label: name, factory: factory) }
        connectionsAccepted = counter("porter_connections_accepted_total")
        commandsStarted = counter("porter_commands_started_total")
        filesSent = counter("porter_files_sent_total")
        filesReceived = counter("porter_files_received_total")
        bytesSent = counter("porter_file_bytes_sent_total")
        bytesReceived = counter("porter_file_bytes_received_total")
        httpRequests = counter("porter_http_requests_total")
        gauges = Dictionary(
            uniqueKeysWithValues: [
                "porter_uptime_seconds", "porter_connections_open", "porter_connections_unauthenticated",
                "porter_connections_busy",
                "porter_commands_running", "porter_transfers_active", "porter_chat_rooms", "porter_chat_members",
            ].map { ($0, CoreMetrics.Gauge(label: $0, factory: factory)) })
    }

    /// Registers a running command until `commandEnded` with the returned id.
    func commandStarted(pid: Int32, program: String) -> UInt64 {
        commandsStarted.increment()
        return live.withLock { live in
            live.nextID += 1
            live.commands[live.nextID] = Command(pid: Int(pid), program: program, started: Date())
            return live.nextID
        }
    }

    func commandEnded(_ id: UInt64) {
        _ = live.withLock { $0.commands.removeValue(forKey: id) }
    }

    /// Registers a transfer; call the returned function when it ends.
    func transferStarted(path: String, direction: String, size: Int64) -> (Transfer, @Sendable (Bool) -> Void) {
        let transfer = Transfer(path: path, direction: direction, size: size)
        let id = live.withLock { live in
            live.nextID += 1
            live.transfers[live.nextID] = transfer
            return live.nextID
        }
        let sending = direction == "get"
        return (
            transfer,
            { [self] completed in
                _ = live.withLock { $0.transfers.removeValue(forKey: id) }
                (sending ? bytesSent : bytesReceived).increment(by: transfer.bytes)
                if completed { (sending ? filesSent : filesReceived).increment() }
            }
        )
    }

    /// The commands running now.
    var commands: [Command] { live.withLock { Array($0.commands.values) }.sorted { $0.started < $1.started } }

    /// The transfers in progress now.
    var transfers: [Transfer] { live.withLock { Array($0.transfers.values) }.sorted { $0.started < $1.started } }

    /// The metrics in Prometheus's text format, gauges brought up to date from `status`.
    func metrics(_ status: ServerStatus) -> String {
        let values: [String: Double] = [
            "porter_uptime_seconds": status.uptimeSeconds,
            "porter_connections_open": Double(status.connections),
            "porter_connections_unauthenticated": Double(status.unauthenticated),
            "porter_connections_busy": Double(status.busy),
            "porter_commands_running": Double(status.commands.count),
            "porter_transfers_active": Double(status.transfers.count),
            "porter_chat_rooms": Double(status.rooms.count),
            "porter_chat_members": Double(status.rooms.reduce(0) { $0 + $1.members.count }),
        ]
        for (name, value) in values { gauges[name]?.record(value) }
        return registry.emitToString()
    }
}

/// The status page's data, also served as `/status.json`.
struct ServerStatus: Codable, Sendable {
    struct Transfer: Codable, Sendable {
        var path: String
        var direction: String
        var bytes: Int64
        var size: Int64
        var bytesPerSecond: Double
    }

    struct Room: Codable, Sendable {
        var room: String
        var members: [String]
    }

    var version: String
    var server: String
    var uptimeSeconds: Double
    var connections: Int
    var unauthenticated: Int
    /// Connections with a request being served; the others are idle.
    var busy: Int
    var commands: [ServerActivity.Command]
    var transfers: [Transfer]
    var rooms: [Room]
}
