import CPorterSystem
import NIOCore
import NIOPosix
import Synchronization

/// Offers freed memory back to the system, every so often and only after something that held memory has ended
/// since the last offer: a request, a handshake (its messages and proofs), a connection.
///
/// glibc's allocator keeps freed memory in its arenas (one per thread that allocates, so one per event loop):
/// after a burst of large transfers, stalled clients or connections the server's resident size would stay at the
/// burst's peak for as long as it runs. `malloc_trim` gives the free pages back; it walks the arenas, so it runs
/// on NIO's thread pool, never on an event loop, and at most once per interval.
final class MemoryReturn: Sendable {
    private let endedSinceLastOffer = Atomic<Bool>(false)
    private let task = Locked<RepeatedTask?>(nil)

    /// Offers every `interval` seconds, on `loop`, until ``stop()``.
    func start(interval: Double, loop: any EventLoop) {
        let delay = TimeAmount.milliseconds(Int64(min(max(interval, 0.01), 86_400) * 1000))
        let repeated = loop.scheduleRepeatedTask(initialDelay: delay, delay: delay) { [self] _ in
            guard endedSinceLastOffer.exchange(false, ordering: .relaxed) else { return }
            NIOThreadPool.singleton.submit { _ in _ = porter_return_free_memory() }
        }
        task.withLock { $0 = repeated }
    }

    /// Something that held memory has ended: its memory is free.
    func freed() {
        endedSinceLastOffer.store(true, ordering: .relaxed)
    }

    /// Stops offering.
    func stop() {
        task.withLock { $0?.cancel() }
    }
}
