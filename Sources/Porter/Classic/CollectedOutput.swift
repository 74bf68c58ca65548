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
            let budget = ByteBudget(limit, shared: shared) { kill(-pid, SIGKILL) }
            let streams: (output: EventLoopFuture<ByteBuffer>, errors: EventLoopFuture<ByteBuffer>)
            do {
                streams = try await eventLoop.submit { try OutputCollector.collect(running, budget: budget) }.get()
            } catch {
                running.terminate()
                budget.giveBack()
                throw error
            }
            let exit = try await running.exit.get()
            // Both streams end before anything is decided, so that nothing is taken after a give-back.
            let output = try await streams.output.get()
            let errors = try await streams.errors.get()
            return CollectedOutput(output: output, errors: errors, status: exit.status, budgeted: budget.taken)
        }
    }
}

/// Reads one of a command's output streams to its end on the event loop, keeping what the budget allows: the
/// classic exec's data path, with no task.
private final class OutputCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let budget: ByteBudget
    private let done: EventLoopPromise<ByteBuffer>
    private var kept = ByteBuffer()

    private init(budget: ByteBudget, done: EventLoopPromise<ByteBuffer>) {
        self.budget = budget
        self.done = done
    }

    /// Sets up collectors on `command`'s output and error output, on their event loop, and starts reading.
    ///
    /// - Returns: what each stream kept, once it has ended.
    static func collect(_ command: RunningCommand, budget: ByteBudget) throws -> (
        output: EventLoopFuture<ByteBuffer>, errors: EventLoopFuture<ByteBuffer>
    ) {
        let eventLoop = command.output.eventLoop
        var ends: [EventLoopFuture<ByteBuffer>] = []
        for stream in [command.output, command.errors] {
            guard let stream else {
                ends.append(eventLoop.makeSucceededFuture(ByteBuffer()))
                continue
            }
            let done = eventLoop.makePromise(of: ByteBuffer.self)
            try stream.pipeline.syncOperations.addHandler(OutputCollector(budget: budget, done: done))
            stream.read()
            ends.append(done.futureResult)
        }
        command.child.releaseOutput()
        return (ends[0], ends[1])
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        budget.keep(&chunk, into: &kept)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // What is kept is bounded by the budget, and the command is killed once it is spent: read on.
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.succeed(kept)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A pipeline torn down without going inactive ends the stream too (completing twice is a no-op).
        done.succeed(kept)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A read error closes the pipe's channel, which ends the stream.
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

    /// Keeps what the budget allows of `chunk` in `kept`; once it is spent, the command is stopped and the rest
    /// dropped.
    func keep(_ chunk: inout ByteBuffer, into kept: inout ByteBuffer) {
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
        if allowed > 0, var slice = chunk.readSlice(length: allowed) {
            kept.writeBuffer(&slice)
        }
    }
}
