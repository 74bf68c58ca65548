import Logging
import NIOCore
import PorterProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One running command and the tasks that serve it; see ``ExecService``.
struct ExecRun: Sendable {
    typealias Frames = ExecService.Frames
    typealias Outbound = ExecService.Outbound

    let child: ChildProcess
    let configuration: ExecConfiguration
    let outbound: Outbound
    let started: ContinuousClock.Instant
    /// The standard-input window granted in `exec.started`.
    let window: Int

    /// Shared between the task reading the client and the tasks serving the command.
    private final class Progress: Sendable {
        let exited = Atomic<Bool>(false)
        let timedOut = Atomic<Bool>(false)
        /// Standard-input bytes the client may still send.
        let credit: Atomic<Int>
        init(credit: Int) { self.credit = Atomic(credit) }
    }

    /// Serves the command until it has exited and the client sends its next request.
    ///
    /// - Returns: the first frame of the next request, or `nil` if the client left (the command is then
    ///   terminated).
    func serve(_ frames: Frames, timeout: Double?, logger: Logger) async throws -> DeliveredFrame? {
        let progress = Progress(credit: window)
        let (stdinData, stdinFeed) = AsyncStream.makeStream(of: ByteBuffer.self)
        return try await child.withStreams { output, errors in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let status = try await runToExit(output: output, errors: errors)
                    let exit = ControlMessage.ExecExit(
                        status, timedOut: progress.timedOut.load(ordering: .relaxed), since: started)
                    logger.info(
                        "exec ended",
                        metadata: [
                            "exec.pid": "\(child.pid)", "exec.status": "\(exit.status.map(String.init) ?? "-")",
                            "exec.signal": "\(exit.signal ?? "-")",
                        ])
                    progress.exited.store(true, ordering: .releasing)
                    try await outbound.write(ControlMessage.execExit(exit).frame)
                }
                group.addTask {
                    try await feedInput(stdinData, progress: progress)
                }
                if let timeout {
                    group.addTask { try await enforce(timeout: timeout, progress: progress) }
                }
                var handedBack = false
                defer {
                    // However the client's side ended — it left, broke the protocol, or the connection failed —
                    // a command still running is terminated; only a next request lets it finish on its own.
                    if !handedBack { terminate(progress: progress) }
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
                        guard !progress.exited.load(ordering: .acquiring) else { continue }
                        guard ExecSignalName.accepted.contains(request.name), let number = Signals.number(request.name)
                        else {
                            let error = ProtocolError(.badRequest, "signal \(request.name.prefix(16)) is not accepted")
                            try await outbound.write(ControlMessage.error(.init(error, fatal: false)).frame)
                            continue
                        }
                        child.signal(number)
                    case .execResize(let size):
                        child.resize(rows: size.rows, cols: size.cols)
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

    /// Streams output until the command has exited and its output has ended (or the drain grace has passed).
    private func runToExit(
        output: NIOAsyncChannelInboundStream<ByteBuffer>, errors: NIOAsyncChannelInboundStream<ByteBuffer>?
    ) async throws -> ExitStatus {
        enum Event {
            case drained
            case exited(ExitStatus)
            case drainExpired
        }
        return try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask {
                try await pump(output, to: .output)
                return .drained
            }
            if let errors {
                group.addTask {
                    try await pump(errors, to: .error)
                    return .drained
                }
            }
            let pid = child.pid
            group.addTask {
                // Whatever the command left running in its group is killed while its pid still holds the group.
                .exited(await ChildReaper.shared.wait(for: pid) { kill(-pid, SIGKILL) })
            }
            var status: ExitStatus?
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
                            try await Task.sleep(for: TimeLimit.duration(seconds: grace))
                            return .drainExpired
                        }
                    }
                case .drainExpired:
                    // Something outside the group still holds the output open: stop reading it.
                    streams = 0
                }
                if let status, streams == 0 {
                    group.cancelAll()
                    return status
                }
            }
            return status ?? .exited(255)
        }
    }

    /// Sends one stream of the command's output to the client as data frames.
    private func pump(_ stream: NIOAsyncChannelInboundStream<ByteBuffer>, to kind: Frame.Stream) async throws {
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
            try await outbound.write(.data(chunk, stream: kind))
        }
    }

    private func enforce(timeout: Double, progress: Progress) async throws {
        try await Task.sleep(for: TimeLimit.duration(seconds: timeout))
        guard !progress.exited.load(ordering: .acquiring) else { return }
        progress.timedOut.store(true, ordering: .relaxed)
        child.signal(SIGTERM)
        try await Task.sleep(for: TimeLimit.duration(seconds: configuration.terminationGrace))
        guard !progress.exited.load(ordering: .acquiring) else { return }
        child.signal(SIGKILL)
    }

    /// Terminates the command's group: SIGHUP and SIGTERM now, SIGKILL after the grace period unless it has
    /// exited (when it exits, the reaper kills what is left of its group).
    private func terminate(progress: Progress) {
        guard !progress.exited.load(ordering: .acquiring) else { return }
        child.signal(SIGHUP)
        child.signal(SIGTERM)
        let child = self.child
        let grace = configuration.terminationGrace
        Task {
            try? await Task.sleep(for: TimeLimit.duration(seconds: grace))
            if !progress.exited.load(ordering: .acquiring) { child.signal(SIGKILL) }
        }
    }
}

extension ControlMessage.ExecExit {
    /// The report of a command that ended with `status`, started at `started`.
    init(_ status: ExitStatus, timedOut: Bool, since started: ContinuousClock.Instant) {
        let duration = (ContinuousClock.now - started) / .seconds(1)
        switch status {
        case .exited(let code):
            self.init(status: Int(code), signal: nil, signalNumber: nil, timedOut: timedOut, duration: duration)
        case .signaled(let number):
            self.init(
                status: nil, signal: Signals.name(number), signalNumber: Int(number), timedOut: timedOut,
                duration: duration)
        }
    }
}
