import Logging
import NIOCore
import PorterProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a command printed, for a front door that answers with all of it at once: the classic exec.
struct CollectedOutput: Sendable {
    var output: ByteBuffer
    var errors: ByteBuffer
    var status: ExitStatus
    /// Bytes of output taken from the shared budget, to give back once the reply has been sent.
    var budgeted: Int

    /// Runs `command` through `/bin/sh -c` with `/dev/null` as input, started by `exec` under its policies, and
    /// returns its output and error output once it has exited.
    ///
    /// A command that runs longer than `timeout` seconds is ended by the service (SIGTERM, then SIGKILL); one that
    /// writes more than `limit` bytes in all is killed with its process group, and what it wrote up to the limit
    /// is returned. With `shared`, every byte kept is taken from that budget too (the caller gives ``budgeted``
    /// back once it is done with the output), and a command whose output finds it spent is killed the same way.
    static func collect(
        _ command: String, from exec: ExecService, limit: Int, timeout: Double, shared: SharedByteBudget? = nil,
        on eventLoop: any EventLoop, logger: Logger
    ) async throws -> CollectedOutput {
        let request = ControlMessage.Exec(argv: ["/bin/sh", "-c", command], timeout: timeout, stdin: false)
        switch try await exec.start(request, program: command, on: eventLoop, logger: logger) {
        case .couldNotStart(let message, let status):
            return CollectedOutput(
                output: ByteBuffer(), errors: ByteBuffer(string: message), status: .exited(status), budgeted: 0)
        case .started(let running):
            let pid = running.pid
            return try await running.child.withStreams { output, errors in
                let budget = ByteBudget(limit, shared: shared) { kill(-pid, SIGKILL) }
                async let collectedOutput = budget.read(output)
                async let collectedErrors = budget.read(errors ?? output)
                let exit = try await running.exit.get()
                // Both reads end before anything is decided, so that nothing is taken after a give-back.
                let (keptOutput, keptErrors) = await (collectedOutput, collectedErrors)
                do {
                    return CollectedOutput(
                        output: try keptOutput.get(), errors: try keptErrors.get(), status: exit.status,
                        budgeted: budget.taken)
                } catch {
                    budget.giveBack()
                    throw error
                }
            }
        }
    }
}

/// Bytes shared by a command's two output streams, and drawn from the shared budget if there is one; once either
/// is spent, the command is stopped and the rest dropped (never a gap: nothing is kept after the first refusal).
private final class ByteBudget: Sendable {
    private let left: Atomic<Int>
    private let shared: SharedByteBudget?
    private let sharedTaken = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let exhausted: @Sendable () -> Void

    init(_ limit: Int, shared: SharedByteBudget?, exhausted: @escaping @Sendable () -> Void) {
        self.left = Atomic(limit)
        self.shared = shared
        self.exhausted = exhausted
    }

    /// Bytes taken from the shared budget so far.
    var taken: Int { sharedTaken.load(ordering: .relaxed) }

    /// Gives back to the shared budget what was taken from it.
    func giveBack() { shared?.giveBack(sharedTaken.exchange(0, ordering: .relaxed)) }

    /// Reads `stream` to its end, keeping what the budget allows.
    func read(_ stream: NIOAsyncChannelInboundStream<ByteBuffer>) async -> Result<ByteBuffer, any Error> {
        do { return .success(try await keep(stream)) } catch { return .failure(error) }
    }

    private func keep(_ stream: NIOAsyncChannelInboundStream<ByteBuffer>) async throws -> ByteBuffer {
        var kept = ByteBuffer()
        for try await var chunk in stream {
            var allowed = 0
            if !stopped.load(ordering: .relaxed) {
                allowed = min(
                    chunk.readableBytes,
                    max(left.subtract(chunk.readableBytes, ordering: .relaxed).newValue + chunk.readableBytes, 0))
                if let shared, allowed > 0 {
                    allowed = shared.take(upTo: allowed)
                    sharedTaken.add(allowed, ordering: .relaxed)
                }
            }
            if allowed < chunk.readableBytes {
                stopped.store(true, ordering: .relaxed)
                exhausted()
            }
            if allowed > 0, let slice = chunk.readSlice(length: allowed) {
                var slice = slice
                kept.writeBuffer(&slice)
            }
        }
        return kept
    }
}
