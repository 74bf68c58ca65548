import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Signals caught instead of taking their default action: each one that arrives runs its handler on a dispatch
/// queue, until ``stop()`` restores the default actions.
final class CaughtSignals {
    private let sources: [any DispatchSourceSignal]
    private let numbers: [Int32]

    /// Catches each signal number with its handler.
    init(_ handlers: [(Int32, @Sendable () -> Void)]) {
        var sources: [any DispatchSourceSignal] = []
        for (number, handler) in handlers {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            sources.append(source)
        }
        self.sources = sources
        self.numbers = handlers.map(\.0)
    }

    /// SIGINT and SIGTERM: `received` is told how many of either have arrived so far, 1 for the first.
    static func stopping(_ received: @escaping @Sendable (Int) -> Void) -> CaughtSignals {
        let count = Atomic<Int>(0)
        let handler: @Sendable () -> Void = { received(count.add(1, ordering: .relaxed).newValue) }
        return CaughtSignals([(SIGINT, handler), (SIGTERM, handler)])
    }

    /// Stops catching and restores the default actions.
    func stop() {
        for source in sources { source.cancel() }
        for number in numbers { signal(number, SIG_DFL) }
    }
}
