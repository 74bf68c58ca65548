/// A listener beside the native protocol's: the UDP echo, and the classic listeners. Each is bound before the
/// server reports it is listening, and served until the server stops.
protocol FrontDoor: Sendable {
    /// What it serves, e.g. `udp echo` or `classic exec`.
    var name: String { get }
    /// Where it listens, e.g. `udp 127.0.0.1:7074` or `127.0.0.1:7072`.
    var address: String { get }
    /// Serves until closed.
    func serve() async throws
    /// Stops listening.
    func close()
}

/// A listener beside the native protocol's, as bound.
public struct BoundFrontDoor: Sendable, Equatable {
    /// What it serves, e.g. `udp echo` or `classic exec`.
    public var name: String
    /// Where it listens, e.g. `udp 127.0.0.1:7074`.
    public var address: String
}
