import NIOConcurrencyHelpers

/// A value behind a lock: the state that several threads share (a server's admission counts, chat rooms, live
/// commands).
///
/// Porter uses this rather than the standard library's `Mutex` because on Linux that `Mutex` is built on a futex
/// that ThreadSanitizer cannot see: every access under it reads as a data race, which would make a
/// ThreadSanitizer run worthless. This one locks a pthread mutex (`NIOLock`), which the sanitizer understands.
package final class Locked<Value> {
    private let lock = NIOLock()
    private var value: Value

    /// Creates the lock around `value`.
    package init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the value, holding the lock.
    package func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure)
        -> Result
    {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

// The value is reached only through `withLock`, under the lock, so the box may be shared between threads exactly
// when the value itself may be sent between them.
extension Locked: @unchecked Sendable where Value: Sendable {}
