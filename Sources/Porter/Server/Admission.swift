/// Decides which new connections a server takes on, before a single byte of theirs is processed.
///
/// Three limits, each a field of ``ServerConfiguration``:
/// - `maxConnections`: connections open at once, waiting ones included; one more is refused.
/// - `maxUnauthenticated`: connections going through TLS and authentication at once, as OpenSSH's MaxStartups.
/// - `maxUnauthenticatedPerSource`: of those, connections from one address, as PerSourceMaxStartups.
///
/// A connection over either of the last two limits is not refused: it waits, unread, until a connection ahead of
/// it authenticates or closes, and is closed if its authentication deadline passes first. A burst of real
/// clients from one address therefore slows down instead of failing, while a flood of idle connections from one
/// address holds at most its per-source share of the handshake slots, so others still get in.
final class Admission: Sendable {
    /// What happens to a new connection.
    enum Decision: Equatable {
        /// It may start its handshake now.
        case admitted
        /// It waits; the `admit` closure given to ``arrive(source:admit:)`` runs when it may start.
        case waiting(ticket: UInt64)
        /// The server is at `maxConnections`.
        case refused
    }

    private struct Waiter {
        let ticket: UInt64
        let source: String
        let admit: @Sendable () -> Void
    }

    private struct State {
        var open = 0
        var unauthenticated = 0
        var unauthenticatedBySource: [String: Int] = [:]
        var waiting: [Waiter] = []
        var nextTicket: UInt64 = 0
    }

    let maxConnections: Int
    let maxUnauthenticated: Int
    let maxUnauthenticatedPerSource: Int
    private let state = Locked(State())

    init(maxConnections: Int, maxUnauthenticated: Int, maxUnauthenticatedPerSource: Int) {
        self.maxConnections = maxConnections
        self.maxUnauthenticated = maxUnauthenticated
        self.maxUnauthenticatedPerSource = maxUnauthenticatedPerSource
    }

    /// Registers a new connection from `source`.
    ///
    /// - Parameter admit: run (on any thread, without locks held) when a waiting connection may start.
    func arrive(source: String, admit: @escaping @Sendable () -> Void) -> Decision {
        state.withLock { state in
            guard state.open < maxConnections else { return .refused }
            state.open += 1
            if hasSlot(state, for: source) {
                takeSlot(&state, for: source)
                return .admitted
            }
            state.nextTicket += 1
            state.waiting.append(Waiter(ticket: state.nextTicket, source: source, admit: admit))
            return .waiting(ticket: state.nextTicket)
        }
    }

    /// An admitted connection from `source` has authenticated, or closed before it did: its slot is free.
    func releaseSlot(source: String) {
        let admitted = state.withLock { state in
            state.unauthenticated -= 1
            let remaining = state.unauthenticatedBySource[source, default: 1] - 1
            state.unauthenticatedBySource[source] = remaining > 0 ? remaining : nil
            return admitWaiting(&state)
        }
        for waiter in admitted { waiter.admit() }
    }

    /// A waiting connection gave up (closed, or reached its deadline) before it was admitted.
    func stopWaiting(ticket: UInt64) {
        state.withLock { state in
            state.waiting.removeAll { $0.ticket == ticket }
        }
    }

    /// A connection registered by ``arrive(source:admit:)`` has closed.
    func closed() {
        state.withLock { $0.open -= 1 }
    }

    /// Connections open now, waiting ones included.
    var openCount: Int { state.withLock { $0.open } }

    /// Connections in TLS or authentication now.
    var unauthenticatedCount: Int { state.withLock { $0.unauthenticated } }

    /// Connections waiting for a slot now.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    private func hasSlot(_ state: State, for source: String) -> Bool {
        state.unauthenticated < maxUnauthenticated
            && state.unauthenticatedBySource[source, default: 0] < maxUnauthenticatedPerSource
    }

    private func takeSlot(_ state: inout State, for source: String) {
        state.unauthenticated += 1
        state.unauthenticatedBySource[source, default: 0] += 1
    }

    /// Takes slots for waiting connections, oldest first, while there are slots for them.
    private func admitWaiting(_ state: inout State) -> [Waiter] {
        var admitted: [Waiter] = []
        var index = 0
        while index < state.waiting.count, state.unauthenticated < maxUnauthenticated {
            let waiter = state.waiting[index]
            if hasSlot(state, for: waiter.source) {
                takeSlot(&state, for: waiter.source)
                admitted.append(waiter)
                state.waiting.remove(at: index)
            } else {
                index += 1
            }
        }
        return admitted
    }
}
