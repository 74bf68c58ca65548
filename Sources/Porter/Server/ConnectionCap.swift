import NIOCore

/// Counts a listener's open connections, in all and from each source address, so that one address cannot take
/// every slot: a connection over either limit is refused and the others are served on.
final class ConnectionCap: Sendable {
    /// Connections open at once.
    let limit: Int
    /// Of those, connections from one IP address (a Unix-socket peer counts as one address).
    let perSource: Int

    private struct Counts {
        var total = 0
        var bySource: [String: Int] = [:]
    }

    private let counts = Locked(Counts())

    init(limit: Int, perSource: Int) {
        self.limit = limit
        self.perSource = perSource
    }

    /// Takes a slot for a connection from `address`; `false` (and no slot) if that would pass a limit.
    func admit(_ address: SocketAddress?) -> Bool {
        let source = Self.source(of: address)
        return counts.withLock { counts in
            let fromSource = counts.bySource[source, default: 0]
            guard counts.total < limit, fromSource < perSource else { return false }
            counts.total += 1
            counts.bySource[source] = fromSource + 1
            return true
        }
    }

    /// Gives back the slot of a connection from `address` that ``admit(_:)`` let in.
    func release(_ address: SocketAddress?) {
        let source = Self.source(of: address)
        counts.withLock { counts in
            counts.total -= 1
            let left = counts.bySource[source, default: 1] - 1
            counts.bySource[source] = left > 0 ? left : nil
        }
    }

    /// Connections open now, in all.
    var open: Int { counts.withLock { $0.total } }

    private static func source(of address: SocketAddress?) -> String { address?.ipAddress ?? "local" }
}
