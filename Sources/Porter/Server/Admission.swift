import Synchronization

/// Decides which new connections a server takes on, before a single byte of theirs is processed.
///
/// Three limits, each a field of ``ServerConfiguration``: connections open at once (`maxConnections`),
/// connections not yet authenticated (`maxUnauthenticated`, as OpenSSH's MaxStartups) and of those, the ones
/// from one address (`maxUnauthenticatedPerSource`, as PerSourceMaxStartups), so that a flood of idle
/// connections cannot crowd out real clients. A connection takes its slots when accepted, gives the
/// unauthenticated ones back when it authenticates, and the rest when it closes; the authentication deadline
/// bounds how long any unauthenticated slot is held.
final class Admission: Sendable {
    /// Why a connection was not admitted.
    enum Refusal: Error, Equatable {
        case connections(limit: Int)
        case unauthenticated(limit: Int)
        case unauthenticatedFromSource(limit: Int)
    }

    private struct State {
        var open = 0
        var unauthenticated = 0
        var unauthenticatedBySource: [String: Int] = [:]
    }

    let maxConnections: Int
    let maxUnauthenticated: Int
    let maxUnauthenticatedPerSource: Int
    private let state = Mutex(State())

    init(maxConnections: Int, maxUnauthenticated: Int, maxUnauthenticatedPerSource: Int) {
        self.maxConnections = maxConnections
        self.maxUnauthenticated = maxUnauthenticated
        self.maxUnauthenticatedPerSource = maxUnauthenticatedPerSource
    }

    /// Takes the slots of a new connection from `source`.
    func admit(source: String) -> Result<Void, Refusal> {
        state.withLock { state in
            guard state.open < maxConnections else { return .failure(.connections(limit: maxConnections)) }
            guard state.unauthenticated < maxUnauthenticated else {
                return .failure(.unauthenticated(limit: maxUnauthenticated))
            }
            let fromSource = state.unauthenticatedBySource[source, default: 0]
            guard fromSource < maxUnauthenticatedPerSource else {
                return .failure(.unauthenticatedFromSource(limit: maxUnauthenticatedPerSource))
            }
            state.open += 1
            state.unauthenticated += 1
            state.unauthenticatedBySource[source] = fromSource + 1
            return .success(())
        }
    }

    /// Gives back the unauthenticated slots of a connection from `source`.
    func authenticated(source: String) {
        state.withLock { state in
            state.unauthenticated -= 1
            let remaining = state.unauthenticatedBySource[source, default: 1] - 1
            state.unauthenticatedBySource[source] = remaining > 0 ? remaining : nil
        }
    }

    /// Gives back the last slot of an admitted connection.
    func closed() {
        state.withLock { $0.open -= 1 }
    }

    /// Connections open now.
    var openCount: Int { state.withLock { $0.open } }

    /// Connections open now that have not authenticated.
    var unauthenticatedCount: Int { state.withLock { $0.unauthenticated } }
}
