import CPorterSystem

#if canImport(Glibc)
    import Glibc
#endif

/// How a child process ended.
enum ExitStatus: Sendable, Equatable {
    /// It exited with this status.
    case exited(Int32)
    /// This signal ended it.
    case signaled(Int32)

    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }
}

/// Waits for child processes to exit without a thread per process: one thread waits on every child's process
/// file descriptor (pidfd) with epoll and reaps each child as it exits.
final class ChildReaper: Sendable {
    /// The reaper of this process's children.
    static let shared = ChildReaper()

    private struct Waiter {
        let pid: pid_t
        let beforeReaping: @Sendable () -> Void
        let exited: @Sendable (ExitStatus) -> Void
    }

    private let epoll: Int32
    private let waiters = Locked<[Int32: Waiter]>([:])

    private init() {
        epoll = porter_epoll_create()
        precondition(epoll >= 0, "epoll_create1 failed: \(String(cString: strerror(errno)))")
        DetachedThread.start(name: "porter-reaper") { [self] in run() }
    }

    /// Waits until `pid`, a child of this process, exits, and reaps it.
    ///
    /// - Parameter beforeReaping: runs once the process has exited but before it is reaped, while its pid (and
    ///   process group id) cannot be reused.
    func wait(for pid: pid_t, beforeReaping: @escaping @Sendable () -> Void = {}) async -> ExitStatus {
        await withCheckedContinuation { continuation in
            watch(pid, beforeReaping: beforeReaping) { continuation.resume(returning: $0) }
        }
    }

    /// Calls `exited` (on the reaper's thread) once `pid`, a child of this process, has exited and is reaped; see
    /// ``wait(for:beforeReaping:)``.
    func watch(
        _ pid: pid_t, beforeReaping: @escaping @Sendable () -> Void = {},
        exited: @escaping @Sendable (ExitStatus) -> Void
    ) {
        let fd = porter_pidfd_open(pid)
        guard fd >= 0 else {
            // Only a kernel older than 5.3 lacks pidfd_open: reap from a thread of its own then.
            DetachedThread.start(name: "porter-wait") {
                var info = siginfo_t()
                waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT)
                beforeReaping()
                exited(Self.reap(pid))
            }
            return
        }
        waiters.withLock { $0[fd] = Waiter(pid: pid, beforeReaping: beforeReaping, exited: exited) }
        porter_epoll_add(epoll, fd)
    }

    private func run() {
        var ready = [Int32](repeating: -1, count: 64)
        while true {
            let count = porter_epoll_wait(epoll, &ready, Int32(ready.count))
            for fd in ready[..<Int(count)] {
                guard let waiter = waiters.withLock({ $0.removeValue(forKey: fd) }) else { continue }
                porter_epoll_remove(epoll, fd)
                close(fd)
                waiter.beforeReaping()
                waiter.exited(Self.reap(waiter.pid))
            }
        }
    }

    /// Collects the exit status of `pid`, which has exited.
    private static func reap(_ pid: pid_t) -> ExitStatus {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return .exited(255) }
        }
        return ExitStatus(waitStatus: status)
    }
}
