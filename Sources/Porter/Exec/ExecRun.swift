import Logging
import NIOCore
import PorterProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Version 1: one running command and the tasks that serve it; see ``ExecService``.
struct ExecRun: Sendable {
    typealias Frames = ExecService.Frames
    typealias Outbound = ExecService.Outbound

    let command: RunningCommand
    let outbound: Outbound
    /// The standard-input window granted in `exec.started`.
    let window: Int

    private var child: ChildProcess { command.child }
    private var configuration: ExecConfiguration { command.configuration }

    /// Shared between the task reading the client and the tasks serving the command.
    private final class Progress: Sendable {
        let exited = Atomic<Bool>(false)
        /// Standard-input bytes the client may still send.
        let credit: Atomic<Int>
        init(credit: Int) { self.credit = Atomic(credit) }
    }

    /// Serves the command until it has exited and the client sends its next request.
    ///
    /// - Returns: the first frame of the next request, or `nil` if the client left (the command is then
    ///   terminated).
    func serve(_ frames: Frames) async throws -> DeliveredFrame? {
        let progress = Progress(credit: window)
        let (stdinData, stdinFeed) = AsyncStream.makeStream(of: ByteBuffer.self)
        return try await child.withStreams { output, errors in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let exit = try await runToExit(output: output, errors: errors)
                    progress.exited.store(true, ordering: .releasing)
                    try await outbound.write(ControlMessage.execExit(exit.report).frame)
                }
                group.addTask {
                    try await feedInput(stdinData, progress: progress)
                }
                var handedBack = false
                defer {
                    // However the client's side ended — it left, broke the protocol, or the connection failed —
                    // a command still running is terminated; only a next request lets it finish on its own.
                    if !handedBack { command.terminate() }
                    stdinFeed.finish()
                    group.cancelAll()
                }
                while let frame = try await frames.next() {
                    if frame.frame.kind == .data {
                        try accept(stdin: frame.frame, into: stdinFeed, progress: progress)
                        continue
                    }
                    let message = try frame.message()
                    switch message {
                    case .execEOF:
                        stdinFeed.finish()
                    case .execSignal(let request):
                        do throws(ProtocolError) {
                            try command.signal(request.name)
                        } catch {
                            try await outbound.write(ControlMessage.error(.init(error, fatal: false)).frame)
                        }
                    case .execResize(let size):
                        command.resize(rows: size.rows, cols: size.cols)
                    case let other:
                        guard progress.exited.load(ordering: .acquiring) else {
                            throw ProtocolError(.unexpectedMessage, "'\(other.type)' while a command runs")
                        }
                        handedBack = true
                        return frame
                    }
                }
                // The client left: the deferred clean-up terminates the command.
                return nil
            }
        }
    }

    /// Passes standard input from the client to the command within the window.
    private func accept(
        stdin frame: Frame, into feed: AsyncStream<ByteBuffer>.Continuation, progress: Progress
    ) throws(ProtocolError) {
        guard frame.stream == .main else {
            throw ProtocolError(.badFrame, "standard input goes on stream 0")
        }
        let bytes = frame.payload.readableBytes
        guard progress.credit.subtract(bytes, ordering: .relaxed).newValue >= 0 else {
            throw ProtocolError(.limitExceeded, "standard input sent beyond the window the server granted")
        }
        // Input waits for the pipe: it must not keep the decoder's whole read buffer alive.
        feed.yield(frame.payload.compacted())
    }

    /// Writes standard input to the command, granting the client a new window for every chunk passed on.
    private func feedInput(_ data: AsyncStream<ByteBuffer>, progress: Progress) async throws {
        var open = true
        for await buffer in data {
            if open {
                do {
                    try await child.write(buffer)
                } catch {
                    // The command closed its input: what else arrives is dropped, as a pipe with no reader would.
                    open = false
                }
            }
            progress.credit.add(buffer.readableBytes, ordering: .relaxed)
            guard !progress.exited.load(ordering: .acquiring) else { continue }
            try await outbound.write(ControlMessage.execWindow(.init(bytes: buffer.readableBytes)).frame)
        }
        await child.closeInput()
    }

    /// How the output streams are getting on, for the drain grace: it runs out only while no output moves and
    /// none waits for the client, so a slow client never loses the end of the output.
    private final class OutputProgress: Sendable {
        /// Chunks read from the command so far.
        let chunks = Atomic<Int>(0)
        /// Streams whose chunk is being written to the client now.
        let writing = Atomic<Int>(0)
    }

    /// Streams output until the command has exited and its output has ended (or nothing came for the drain grace).
    private func runToExit(
        output: NIOAsyncChannelInboundStream<ByteBuffer>, errors: NIOAsyncChannelInboundStream<ByteBuffer>?
    ) async throws -> CommandExit {
        enum Event {
            case drained
            case exited(CommandExit)
            case drainExpired
        }
        let progress = OutputProgress()
        return try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask {
                try await pump(output, to: .output, progress: progress)
                return .drained
            }
            if let errors {
                group.addTask {
                    try await pump(errors, to: .error, progress: progress)
                    return .drained
                }
            }
            let exit = command.exit
            group.addTask { .exited(try await exit.get()) }
            var status: CommandExit?
            var streams = errors == nil ? 1 : 2
            while let event = try await group.next() {
                switch event {
                case .drained:
                    streams -= 1
                case .exited(let exit):
                    status = exit
                    if streams > 0 {
                        let grace = configuration.outputDrainGrace
                        group.addTask {
                            while true {
                                let seen = progress.chunks.load(ordering: .relaxed)
                                try await Task.sleep(for: TimeLimit.duration(seconds: grace))
                                if progress.chunks.load(ordering: .relaxed) == seen,
                                    progress.writing.load(ordering: .relaxed) == 0
                                {
                                    return .drainExpired
                                }
                            }
                        }
                    }
                case .drainExpired:
                    // Nothing came for the grace period: something outside the group still holds the output
                    // open. Stop reading it.
                    streams = 0
                }
                if let status, streams == 0 {
                    group.cancelAll()
                    return status
                }
            }
            return status ?? CommandExit(status: .exited(255), timedOut: false, duration: 0)
        }
    }

    /// Sends one stream of the command's output to the client as data frames.
    private func pump(
        _ stream: NIOAsyncChannelInboundStream<ByteBuffer>, to kind: Frame.Stream, progress: OutputProgress
    ) async throws {
        var chunks = stream.makeAsyncIterator()
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try await chunks.next()
            } catch {
                // A terminal's master reports EIO once every process has closed the terminal: the end.
                return
            }
            guard let chunk else { return }
            progress.chunks.add(1, ordering: .relaxed)
            progress.writing.add(1, ordering: .relaxed)
            defer { progress.writing.subtract(1, ordering: .relaxed) }
            try await outbound.write(.data(chunk, stream: kind))
        }
    }
}
