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
/// counters in a Prometheus registry of the server's own, each with the help text `/metrics` shows.
public final class ServerActivity: Sendable {
    /// When the server started.
    public let started = Date()
    /// The registry `/metrics` emits.
    let registry: PrometheusCollectorRegistry

    let connectionsAccepted: Counter
    let commandsStarted: Counter
    let filesSent: Counter
    let filesReceived: Counter
    let bytesSent: Counter
    let bytesReceived: Counter
    let httpRequests: Counter
    let forwardsOpened: Counter
    let forwardBytesSent: Counter
    let forwardBytesReceived: Counter
    /// Set from the live state each time metrics are read.
    private let gauges: [String: Gauge]

    /// Every gauge's name and help text; `metrics(_:)` gives each its value.
    private static let gaugeHelp: KeyValuePairs<String, String> = [
        "porter_uptime_seconds": "Seconds since the server started.",
        "porter_connections_open": "Connections open now, those waiting to authenticate included.",
        "porter_connections_unauthenticated": "Connections in TLS or authentication now.",
        "porter_connections_busy": "Connections with a request being served now.",
        "porter_commands_running": "Commands running now.",
        "porter_transfers_active": "File transfers in progress now.",
        "porter_chat_rooms": "Chat rooms with at least one member.",
        "porter_chat_members": "Members of all chat rooms together.",
        "porter_forwards_open": "TCP connections being forwarded now.",
    ]

    private struct Live {
        var nextID: UInt64 = 0
        var commands: [UInt64: Command] = [:]
        var transfers: [UInt64: Transfer] = [:]
        var forwards: [UInt64: Forward] = [:]
    }

    private let live = Locked(Live())
    /// Connections with at least one channel open.
    private let busyChannelConnections = Atomic<Int>(0)

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

    /// A TCP connection being forwarded (`porter forward`).
    public final class Forward: Sendable {
        /// `host:port` the server connected to.
        public let target: String
        /// The client's local peer whose connection it carries, as the client said.
        public let origin: String
        /// When it started.
        public let started: Date
        private let sent = Atomic<Int>(0)
        private let received = Atomic<Int>(0)

        init(target: String, origin: String) {
            self.target = target
            self.origin = origin
            self.started = Date()
        }

        /// Bytes written to the target so far, and read from it.
        public var toTarget: Int { sent.load(ordering: .relaxed) }
        public var fromTarget: Int { received.load(ordering: .relaxed) }

        /// Records bytes moved: `toTarget` to the target, `fromTarget` from it.
        func moved(toTarget: Int, fromTarget: Int) {
            if toTarget > 0 { sent.add(toTarget, ordering: .relaxed) }
            if fromTarget > 0 { received.add(fromTarget, ordering: .relaxed) }
        }
    }

    init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func counter(_ name: String, _ help: String) -> Counter {
            registry.makeCounter(
                descriptor: MetricNameDescriptor(
                    namespace: "porter", metricName: name, unitName: "total", helpText: help))
        }
        connectionsAccepted = counter("connections_accepted", "Connections accepted since the server started.")
        commandsStarted = counter(
            "commands_started", "Commands started since the server started (exec, shell and classic exec).")
        filesSent = counter("files_sent", "Files sent to clients (get) in whole.")
        filesReceived = counter("files_received", "Files received from clients (put), verified and renamed into place.")
        bytesSent = counter(
            "file_bytes_sent", "File bytes sent to clients, added as each transfer ends, completed or not.")
        bytesReceived = counter(
            "file_bytes_received", "File bytes received from clients, added as each transfer ends, completed or not.")
        httpRequests = counter("http_requests", "Requests answered on the HTTP endpoint.")
        forwardsOpened = counter("forwards_opened", "TCP connections forwarded since the server started.")
        forwardBytesSent = counter(
            "forward_bytes_sent", "Bytes forwarded to targets, added as each forwarded connection ends.")
        forwardBytesReceived = counter(
            "forward_bytes_received", "Bytes forwarded from targets, added as each forwarded connection ends.")
        // The gauges' names are whole already; the descriptor's unit is only for counters' `total`.
        gauges = Dictionary(
            uniqueKeysWithValues: Self.gaugeHelp.map { name, help in
                (
                    name,
                    registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
                )
            })
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

    /// A connection opened its first channel (`busy`), or closed its last.
    func channelConnection(busy: Bool) {
        if busy {
            busyChannelConnections.add(1, ordering: .relaxed)
        } else {
            busyChannelConnections.subtract(1, ordering: .relaxed)
        }
    }

    /// Connections with a channel open now: each channel is a request being served.
    var busyChannelConnectionCount: Int { busyChannelConnections.load(ordering: .relaxed) }

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

    /// Registers a forwarded connection: `progress` records bytes moved, `ended` removes it.
    func forwardStarted(target: String, origin: String) -> (
        progress: @Sendable (_ toTarget: Int, _ fromTarget: Int) -> Void, ended: @Sendable () -> Void
    ) {
        forwardsOpened.increment()
        let forward = Forward(target: target, origin: origin)
        let id = live.withLock { live in
            live.nextID += 1
            live.forwards[live.nextID] = forward
            return live.nextID
        }
        return (
            { forward.moved(toTarget: $0, fromTarget: $1) },
            { [self] in
                guard live.withLock({ $0.forwards.removeValue(forKey: id) }) != nil else { return }
                forwardBytesSent.increment(by: Int64(forward.toTarget))
                forwardBytesReceived.increment(by: Int64(forward.fromTarget))
            }
        )
    }

    /// The forwarded connections now.
    var forwards: [Forward] { live.withLock { Array($0.forwards.values) }.sorted { $0.started < $1.started } }

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
            "porter_forwards_open": Double(status.forwards.count),
        ]
        for (name, value) in values { gauges[name]?.set(value) }
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

    struct Forward: Codable, Sendable {
        var target: String
        var origin: String
        var toTarget: Int
        var fromTarget: Int
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
    var forwards: [Forward]
}
