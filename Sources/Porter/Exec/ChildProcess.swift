import CPorterSystem
import NIOCore
import NIOPosix
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A command started for a client: its own process group (or session, on a terminal), and the descriptors of
/// its standard streams as NIO channels on one event loop.
///
/// The channels start with `autoRead` off, and the server holds the write ends of the output pipes (on a terminal,
/// the terminal itself) open until ``releaseOutput()``: whoever serves the command sets up the pipelines first, so
/// that a command that exits at once cannot make its output end, and be read, before anyone takes it.
struct ChildProcess: Sendable {
    typealias Stream = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// The process id, which is also its process group id.
    let pid: pid_t
    /// What the command writes to standard output (on a terminal: everything it writes; the same channel as
    /// ``input``).
    let output: any Channel
    /// What the command writes to standard error; `nil` on a terminal.
    let errors: (any Channel)?
    /// Where the command's standard input goes: the pipe's write end, or the terminal's master; `nil` when the
    /// command reads `/dev/null`.
    let input: (any Channel)?
    /// The terminal's master descriptor, for window-size changes; `nil` with pipes.
    let terminal: Int32?
    /// The output pipes' write ends, or the terminal's other side, until ``releaseOutput()``.
    private let held: HeldDescriptors

    /// Why a command could not be started.
    struct SpawnFailure: Error {
        let errno: Int32
    }

    /// Starts `argv` with `environment` in `directory`, on pipes, or on a new pseudo-terminal of `size`, all on
    /// `eventLoop`: `posix_spawn` (a `vfork`, which holds the loop for a fraction of a millisecond) starts the
    /// command, then the parent's ends of its pipes become channels, while it runs, with no task in between.
    ///
    /// - Parameter input: whether the command gets an input pipe; without one it reads `/dev/null`.
    /// - Returns: the command, or a failure: ``SpawnFailure`` if it could not be started.
    static func spawn(
        argv: [String],
        environment: [String: String],
        directory: WorkingDirectory,
        terminal size: ControlMessage.Terminal?,
        input: Bool,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<ChildProcess> {
        let environmentLines = environment.map { "\($0.key)=\($0.value)" }
        let start = {
            if let size { return spawnOnTerminal(argv, environmentLines, directory, size, eventLoop) }
            return spawnOnPipes(argv, environmentLines, directory, input: input, eventLoop)
        }
        return eventLoop.inEventLoop ? start() : eventLoop.flatSubmit(start)
    }

    /// ``spawn(argv:environment:directory:terminal:input:on:)`` on pipes, on `eventLoop`.
    ///
    /// The command starts before its pipes become channels, so that setting them up overlaps its start rather
    /// than delaying it. Nothing is lost meanwhile: its output waits in the pipes, which cannot end before
    /// ``releaseOutput()``, and an input pipe that it closed at once is a channel that closes at once.
    private static func spawnOnPipes(
        _ argv: [String], _ environment: [String], _ directory: WorkingDirectory, input: Bool,
        _ eventLoop: any EventLoop
    ) -> EventLoopFuture<ChildProcess> {
        let pipes:
            (
                stdin: (read: Int32, write: Int32), stdout: (read: Int32, write: Int32),
                stderr: (read: Int32, write: Int32)
            )
        do {
            pipes = (try input ? makePipe() : openNull(), try makePipe(), try makePipe())
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        let (stdin, stdout, stderr) = pipes
        // Bigger output pipes mean fewer, larger reads and frames for a command that writes a lot; the kernel
        // may grant less (see /proc/sys/fs/pipe-max-size), which only costs speed.
        _ = porter_set_pipe_size(stdout.write, Int32(Self.outputPipeSize))
        let held = HeldDescriptors([stdout.write, stderr.write])
        let pid: pid_t
        do {
            defer { close(stdin.read) }
            pid = try start(argv, environment) { io in
                io.stdin_fd = stdin.read
                io.stdout_fd = stdout.write
                io.stderr_fd = stderr.write
                io.cwd_fd = directory.descriptor
                return try spawnCall(&io)
            }
        } catch {
            held.close()
            for fd in [stdin.write, stdout.read, stderr.read] where fd >= 0 { close(fd) }
            return eventLoop.makeFailedFuture(error)
        }
        let bootstrap = NIOPipeBootstrap(group: eventLoop).channelOption(.autoRead, value: false)
        let output = bootstrap.takingOwnershipOfDescriptor(input: stdout.read)
        let errors = bootstrap.takingOwnershipOfDescriptor(input: stderr.read)
        let inputChannel = input ? bootstrap.takingOwnershipOfDescriptor(output: stdin.write) : nil
        let ends =
            [(output, [stdout.read]), (errors, [stderr.read])] + (inputChannel.map { [($0, [stdin.write])] } ?? [])
        return output.and(errors)
            .and(inputChannel.map { $0.map(Optional.some) } ?? eventLoop.makeSucceededFuture(nil))
            .flatMapThrowing { outputs, input in
                let (output, errors) = outputs
                try output.syncOptions?.setOption(.recvAllocator, value: Self.outputAllocator)
                return ChildProcess(
                    pid: pid, output: output, errors: errors, input: input, terminal: nil, held: held)
            }
            .flatMapError { abandon(pid, held: held, ends: ends, error: $0, on: eventLoop) }
    }

    private static func spawnOnTerminal(
        _ argv: [String], _ environment: [String], _ directory: WorkingDirectory, _ size: ControlMessage.Terminal,
        _ eventLoop: any EventLoop
    ) -> EventLoopFuture<ChildProcess> {
        var master: Int32 = -1
        var path = [CChar](repeating: 0, count: 128)
        let status = porter_openpty(
            &master, &path, path.count, UInt16(clamping: size.rows), UInt16(clamping: size.cols))
        guard status == 0 else { return eventLoop.makeFailedFuture(SpawnFailure(errno: status)) }
        // The server's own descriptor of the terminal keeps it from hanging up before its reader is set up.
        let side = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard side >= 0 else {
            let failure = errno
            close(master)
            return eventLoop.makeFailedFuture(SpawnFailure(errno: failure))
        }
        let held = HeldDescriptors([side])
        let pid: pid_t
        do {
            pid = try start(argv, environment + ["TERM=\(size.term)"]) { io in
                try path.withUnsafeBufferPointer { tty in
                    io.tty_path = tty.baseAddress
                    io.cwd_fd = directory.descriptor
                    return try spawnCall(&io)
                }
            }
        } catch {
            held.close()
            close(master)
            return eventLoop.makeFailedFuture(error)
        }
        // One descriptor for reading and a duplicate for writing, so that each NIO channel owns its own.
        let (reader, writer) = (master, dup(master))
        let bootstrapped = NIOPipeBootstrap(group: eventLoop).channelOption(.autoRead, value: false)
            .takingOwnershipOfDescriptors(input: reader, output: writer)
        return bootstrapped.flatMapThrowing { channel in
            try channel.syncOptions?.setOption(.recvAllocator, value: Self.outputAllocator)
            return ChildProcess(pid: pid, output: channel, errors: nil, input: channel, terminal: reader, held: held)
        }.flatMapError { abandon(pid, held: held, ends: [(bootstrapped, [reader, writer])], error: $0, on: eventLoop) }
    }

    /// Fails the start of a command that runs but whose channels could not all be set up: the command is killed
    /// and reaped, the held descriptors and the channels that were set up are closed, and so are the
    /// descriptors of each bootstrap that failed (a failed bootstrap leaves them with its caller).
    private static func abandon(
        _ pid: pid_t, held: HeldDescriptors, ends: [(channel: EventLoopFuture<any Channel>, descriptors: [Int32])],
        error: any Error, on eventLoop: any EventLoop
    ) -> EventLoopFuture<ChildProcess> {
        held.close()
        kill(-pid, SIGKILL)
        ChildReaper.shared.watch(pid) { _ in }
        return EventLoopFuture.whenAllComplete(ends.map(\.channel), on: eventLoop).flatMapThrowing { results in
            for (result, end) in zip(results, ends) {
                switch result {
                case .success(let channel): channel.close(promise: nil)
                case .failure: for descriptor in end.descriptors { close(descriptor) }
                }
            }
            throw error
        }
    }

    /// Runs `body` with the command's output and error output (`nil` on a terminal) as async sequences, closing
    /// every stream after.
    ///
    /// Input is written through ``input``'s channel directly, whose write futures say when bytes have reached the
    /// command (an async writer only says they were queued).
    func withStreams<Result: Sendable>(
        _ body: (NIOAsyncChannelInboundStream<ByteBuffer>, NIOAsyncChannelInboundStream<ByteBuffer>?) async throws
            -> Result
    ) async throws -> Result {
        let (output, errors) = try await self.output.eventLoop.submit { [self] in
            let streams = (
                try Stream(wrappingChannelSynchronously: self.output, configuration: Self.outputConfiguration),
                try self.errors.map {
                    try Stream(wrappingChannelSynchronously: $0, configuration: Self.outputConfiguration)
                }
            )
            for channel in [self.output, self.errors] { try channel?.syncOptions?.setOption(.autoRead, value: true) }
            self.releaseOutput()
            return streams
        }.get()
        guard let errors else {
            return try await output.executeThenClose { output, _ in try await body(output, nil) }
        }
        return try await output.executeThenClose { output, _ in
            try await errors.executeThenClose { errors, _ in
                defer { input?.close(promise: nil) }
                return try await body(output, errors)
            }
        }
    }

    /// Lets the command's output end: closes the server's own copies of its write ends, once the output's
    /// pipelines are set up. Safe to call more than once.
    func releaseOutput() {
        held.close()
    }

    /// Writes `bytes` to the command's input, returning once they are in the pipe or terminal.
    func write(_ bytes: ByteBuffer) async throws {
        guard let input else { throw ChannelError.ioOnClosedChannel }
        try await input.writeAndFlush(bytes).get()
    }

    /// Closes the command's input, which then reads end-of-file; a terminal stays open.
    func closeInput() async {
        guard terminal == nil, let input else { return }
        try? await input.close(mode: .output).get()
    }

    /// Sends `signal` to the command's whole process group.
    func signal(_ signal: Int32) {
        kill(-pid, signal)
    }

    /// Sets the terminal's size, if the command runs on one.
    func resize(rows: Int, cols: Int) {
        guard let terminal else { return }
        _ = porter_set_window_size(terminal, UInt16(clamping: rows), UInt16(clamping: cols))
    }

    /// The pipe buffer asked for a command's standard output.
    static let outputPipeSize = 1024 * 1024
    /// The largest read from a command's output: one data frame.
    static let outputReadSize = 256 * 1024

    /// Output is read at most one chunk ahead of the one being sent: a client that stops reading leaves the rest
    /// in the pipe (where it stops the command), so a stalled command costs the server a few chunks, not the ten
    /// NIO's default would buffer.
    static let outputConfiguration = Stream.Configuration(
        backPressureStrategy: .init(lowWatermark: 1, highWatermark: 1))

    /// Reads of a command's output: up to one data frame at a time. The first read is small, since most commands
    /// write little: NIO copies a channel's first receive buffer once (to pool it), and a 64 KiB one cost every
    /// short command a 64 KiB copy. A read that fills the buffer makes the next one twice as large, up to
    /// ``outputReadSize``.
    static let outputAllocator = AdaptiveRecvByteBufferAllocator(
        minimum: 4096, initial: 4096, maximum: outputReadSize)

    /// `/dev/null` for reading, in the shape of a pipe without a write end.
    private static func openNull() throws -> (read: Int32, write: Int32) {
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SpawnFailure(errno: errno) }
        return (fd, -1)
    }

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        let status = porter_pipe(&fds)
        guard status == 0 else { throw SpawnFailure(errno: status) }
        return (fds[0], fds[1])
    }

    /// Builds the C argument and environment arrays and calls `body` with a blank `porter_spawn_io`.
    private static func start(
        _ argv: [String], _ environment: [String], _ body: (inout porter_spawn_io) throws -> pid_t
    ) throws -> pid_t {
        var arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var variables: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in arguments { free(pointer) }
            for pointer in variables { free(pointer) }
        }
        return try arguments.withUnsafeMutableBufferPointer { argvPointer in
            try variables.withUnsafeMutableBufferPointer { envPointer in
                var io = porter_spawn_io(
                    stdin_fd: -1, stdout_fd: -1, stderr_fd: -1, tty_path: nil, cwd_fd: -1,
                    argv: argvPointer.baseAddress, envp: envPointer.baseAddress)
                return try body(&io)
            }
        }
    }

    private static func spawnCall(_ io: inout porter_spawn_io) throws -> pid_t {
        var pid: pid_t = 0
        let status = porter_spawn(&pid, &io)
        guard status == 0 else { throw SpawnFailure(errno: status) }
        return pid
    }
}

/// Descriptors the server holds open for a while, closed once (by ``close()``, or when the last reference goes).
final class HeldDescriptors: Sendable {
    private let descriptors: Locked<[Int32]>

    init(_ descriptors: [Int32]) {
        self.descriptors = Locked(descriptors)
    }

    func close() {
        for fd in descriptors.withLock({ descriptors in
            defer { descriptors = [] }
            return descriptors
        }) {
            _ = Glibc.close(fd)
        }
    }

    deinit { close() }
}
