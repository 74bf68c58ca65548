import NIOCore
import PorterProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What ``ExecService/start(_:on:)`` made of a request.
enum CommandStart: Sendable {
    /// The command runs.
    case started(RunningCommand)
    /// The program could not be started: `message` (with its newline) is what a shell would print on standard
    /// error, `status` what it would exit with (127 not found, 126 any other reason).
    case couldNotStart(message: String, status: Int32)
}

/// How a command ended.
struct CommandExit: Sendable, Equatable {
    /// Its status, or the signal that ended it.
    var status: ExitStatus
    /// Whether the server ended it because its time limit passed.
    var timedOut: Bool
    /// Seconds from start to exit.
    var duration: Double

    /// The report a channel's `exec.exit` carries.
    var report: ControlMessage.ExecExit {
        switch status {
        case .exited(let code):
            .init(status: Int(code), signal: nil, signalNumber: nil, timedOut: timedOut, duration: duration)
        case .signaled(let number):
            .init(
                status: nil, signal: Signals.name(number), signalNumber: Int(number), timedOut: timedOut,
                duration: duration)
        }
    }
}

/// A command ``ExecService`` started: its standard streams as NIO channels on the event loop it was started on,
/// with `autoRead` off until whoever serves it has set up their pipelines, and its end as a future.
///
/// The service enforces the time limit (SIGTERM, then SIGKILL after the grace period) and, when the command's main
/// process exits, kills whatever is left in its process group before reaping it. Front doors only move bytes and
/// pass on signals: the native exec channel (``CommandGlue``) and the classic exec.
final class RunningCommand: Sendable {
    /// The process id, which is also the process group id.
    let pid: Int32
    /// The command's standard input, or `nil` when it reads `/dev/null`; on a terminal the same channel as
    /// ``output``.
    var input: (any Channel)? { child.input }
    /// Its standard output (on a terminal: everything it writes).
    var output: any Channel { child.output }
    /// Its standard error; `nil` on a terminal.
    var errors: (any Channel)? { child.errors }
    /// Whether it runs on a terminal.
    var onTerminal: Bool { child.terminal != nil }
    /// Completes once the command's main process has exited (on the event loop of its streams).
    let exit: EventLoopFuture<CommandExit>

    let child: ChildProcess
    /// The service's limits: the grace periods of termination and of output after the exit.
    let configuration: ExecConfiguration
    private let exited = Atomic<Bool>(false)

    /// Starts serving `child`: watches for its exit and enforces `timeout` seconds, if given.
    init(
        child: ChildProcess, timeout: Double?, configuration: ExecConfiguration,
        onExit: @escaping @Sendable () -> Void
    ) {
        self.child = child
        self.pid = child.pid
        self.configuration = configuration
        let eventLoop = child.output.eventLoop
        let promise = eventLoop.makePromise(of: CommandExit.self)
        self.exit = promise.futureResult
        let started = ContinuousClock.now
        let timedOut = Atomic<Bool>(false)
        let pid = child.pid
        let reaped: @Sendable (ExitStatus) -> Void = { [self] status in
            exited.store(true, ordering: .releasing)
            onExit()
            let duration = (ContinuousClock.now - started) / .seconds(1)
            promise.succeed(
                CommandExit(status: status, timedOut: timedOut.load(ordering: .acquiring), duration: duration))
        }
        ChildReaper.shared.watch(pid, beforeReaping: { kill(-pid, SIGKILL) }, exited: reaped)
        guard let timeout else { return }
        let timer = eventLoop.scheduleTask(in: TimeLimit.timeAmount(seconds: timeout)) { [self] in
            guard !hasExited else { return }
            timedOut.store(true, ordering: .releasing)
            child.signal(SIGTERM)
            killAfterGrace()
        }
        exit.whenComplete { _ in timer.cancel() }
    }

    /// Whether the main process has exited.
    var hasExited: Bool { exited.load(ordering: .acquiring) }

    /// Delivers the signal `name` (without `SIG`) to the command's process group; ignored once it has exited.
    ///
    /// - Throws: ``ProtocolError`` `bad-request` if `name` is not one of ``ExecSignalName/accepted``.
    func signal(_ name: String) throws(ProtocolError) {
        guard ExecSignalName.accepted.contains(name), let number = Signals.number(name) else {
            throw ProtocolError(.badRequest, "signal \(name.prefix(16)) is not accepted")
        }
        guard !hasExited else { return }
        child.signal(number)
    }

    /// Sets the terminal's size; nothing without a terminal.
    func resize(rows: Int, cols: Int) {
        child.resize(rows: rows, cols: cols)
    }

    /// Ends the command as a broken connection does: SIGHUP and SIGTERM to its group now, SIGKILL after the grace
    /// period unless it has exited (when it exits, the rest of its group is killed).
    func terminate() {
        guard !hasExited else { return }
        child.signal(SIGHUP)
        child.signal(SIGTERM)
        killAfterGrace()
    }

    private func killAfterGrace() {
        output.eventLoop.scheduleTask(in: TimeLimit.timeAmount(seconds: configuration.terminationGrace)) { [self] in
            if !hasExited { child.signal(SIGKILL) }
        }
    }
}
