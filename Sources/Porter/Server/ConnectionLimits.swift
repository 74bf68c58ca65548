/// How many connections a TCP front door serves, and how long one may stay idle.
struct ConnectionLimits: Sendable {
    /// Connections served at once; more are closed at once.
    var maxConnections: Int
    /// Of those, connections from one IP address; more from it are closed at once.
    var maxConnectionsPerSource: Int
    /// Seconds a connection may pass with nothing read or written (see ``IdleTimeoutHandler``); 0: no limit.
    var idleTimeout: Double

    /// The handler that enforces ``idleTimeout`` on one connection, if there is a limit.
    func idleHandler() -> IdleTimeoutHandler? {
        idleTimeout > 0 ? IdleTimeoutHandler(timeout: TimeLimit.timeAmount(seconds: idleTimeout)) : nil
    }
}
