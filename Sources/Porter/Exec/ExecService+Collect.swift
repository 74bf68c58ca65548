import NIOCore
import PorterProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

extension ExecService {
    /// What a command printed, for front doors that answer with all of it at once (the classic exec).
    struct Collected: Sendable {
        var output: ByteBuffer
        var errors: ByteBuffer
        var status: ExitStatus
    }

    /// Runs `command` through `/bin/sh -c` with `/dev/null` as input, under the same policies as `exec`, and
    /// returns its output and error output once it has exited.
    ///
    /// A command that runs longer than `timeout` seconds, or writes more than `limit` bytes in all, is killed
    /// with its process group; what it wrote up to the limit is returned.
    func collect(_ command: String, limit: Int, timeout: Double, group: any EventLoopGroup) async throws -> Collected {
        let prepared = try prepare(.init(argv: ["/bin/sh", "-c", command], stdin: false))
        let child = try await ChildProcess.spawn(
            argv: prepared.argv, environment: prepared.environment, directory: prepared.directory, terminal: nil,
            input: false, group: group)
        let pid = child.pid
        let registration = activity.commandStarted(pid: pid, program: command)
        defer { activity.commandEnded(registration) }
        return try await child.withStreams { output, errors in
            let budget = ByteBudget(limit) { kill(-pid, SIGKILL) }
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await Task.sleep(for: .seconds(timeout))
                    kill(-pid, SIGKILL)
                }
                async let collectedOutput = budget.read(output)
                async let collectedErrors = budget.read(errors ?? output)
                let status = await ChildReaper.shared.wait(for: pid) { kill(-pid, SIGKILL) }
                let result = Collected(
                    output: try await collectedOutput, errors: try await collectedErrors, status: status)
                tasks.cancelAll()
                return result
            }
        }
    }
}

/// Bytes shared by a command's two output streams; once spent, the command is stopped and the rest dropped.
private final class ByteBudget: Sendable {
    private let left: Atomic<Int>
    private let exhausted: @Sendable () -> Void

    init(_ limit: Int, exhausted: @escaping @Sendable () -> Void) {
        self.left = Atomic(limit)
        self.exhausted = exhausted
    }

    /// Reads `stream` to its end, keeping what the budget allows.
    func read(_ stream: NIOAsyncChannelInboundStream<ByteBuffer>) async throws -> ByteBuffer {
        var kept = ByteBuffer()
        for try await var chunk in stream {
            let allowed = min(
                chunk.readableBytes,
                max(left.subtract(chunk.readableBytes, ordering: .relaxed).newValue + chunk.readableBytes, 0))
            if allowed < chunk.readableBytes { exhausted() }
            if allowed > 0, let slice = chunk.readSlice(length: allowed) {
                var slice = slice
                kept.writeBuffer(&slice)
            }
        }
        return kept
    }
}
