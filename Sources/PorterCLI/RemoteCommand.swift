import ArgumentParser
import Dispatch
import NIOCore
import Porter
import PorterProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs one command on an open connection as `ssh host COMMAND` would: output to standard output and error
/// byte for byte, standard input forwarded until end of file, local signals forwarded, and the remote exit status
/// turned into this process's.
enum RemoteCommand {
    /// Runs `argv` and returns the exit status this process should end with. Standard input is forwarded unless
    /// `options.standardInput` is off. With `--json` the output and the exit are events (`stdout`, `stderr`,
    /// `exit`).
    static func run(
        _ argv: [String], options: ExecOptions, on connection: ClientConnection, events: EventOutput
    ) async throws -> Int32 {
        try await run(argv, options: options, on: connection, events: events, member: nil)
    }

    /// Runs `argv` on `member` of a group, without standard input, and returns its exit status: its output is the
    /// member's prefixed lines, or with `--json` the same events as for one server, each naming the member.
    /// Signals are not forwarded: Ctrl-C ends `porter`, and with it every member's connection and command.
    static func run(
        _ argv: [String], options: ExecOptions, on connection: ClientConnection, member: MemberOutput
    ) async throws -> Int32 {
        var options = options
        options.standardInput = false
        return try await run(argv, options: options, on: connection, events: member.events, member: member)
    }

    private static func run(
        _ argv: [String], options: ExecOptions, on connection: ClientConnection, events: EventOutput,
        member: MemberOutput?
    ) async throws -> Int32 {
        let session = try await connection.exec(argv, options: options)
        let input = session.input
        let interactive = options.terminal != nil
        let raw = interactive ? RawTerminal() : nil
        defer { raw?.restore() }
        let signals = member == nil ? SignalForwarding(input: input, terminal: interactive) : nil
        defer { signals?.stop() }
        // What a person sees: the bytes as they are, or a member's lines, each prefixed with its name.
        func write(_ bytes: ByteBuffer, to descriptor: Int32) -> Bool {
            guard let member else { return Terminal.write(bytes, to: descriptor) }
            member.write(bytes, to: descriptor)
            return true
        }
        func error(_ message: String) {
            if let member { member.error(message) } else { Terminal.error(message) }
        }
        let feeder = Task {
            guard options.standardInput else { return }
            var stdin = StandardInput()
            while let chunk = await stdin.nextChunk() {
                guard try await input.send(ByteBuffer(bytes: chunk)) else { return }
            }
            if !interactive { try await input.finish() }
        }
        defer { feeder.cancel() }
        var standardOutput = UTF8Chunker()
        var standardError = UTF8Chunker()
        var written = true
        while let output = try await session.next() {
            switch output {
            case .standardOutput(let bytes):
                events.report(standardOutput.take(bytes.readableBytesView)?.event("stdout")) {
                    written = write(bytes, to: STDOUT_FILENO)
                }
            case .standardError(let bytes):
                events.report(standardError.take(bytes.readableBytesView)?.event("stderr")) {
                    written = write(bytes, to: STDERR_FILENO)
                }
            }
            // Nobody reads the output any more (`porter exec H -- yes | head`): end as the command would in a
            // local pipeline, killed by SIGPIPE. Closing the connection makes the server terminate the command.
            guard written else { return 128 + SIGPIPE }
        }
        events.report(standardOutput.finish()?.event("stdout"))
        events.report(standardError.finish()?.event("stderr"))
        member?.finish()
        raw?.restore()
        guard let exit = session.exit else { return 255 }
        let status = exit.status.map { Int32(clamping: $0) } ?? 128 + Int32(clamping: exit.signalNumber ?? 0)
        let event = JSONEvent(
            "exit",
            [
                "status": exit.status.map(JSONValue.integer), "signal": exit.signal.map(JSONValue.string),
                "signalNumber": exit.signalNumber.map(JSONValue.integer), "timedOut": .bool(exit.timedOut),
                "seconds": .seconds(exit.duration), "exitStatus": .integer(status),
            ])
        events.report(event) {
            if exit.timedOut {
                error("the command ran past its time limit of \(options.timeout ?? 0) s and was terminated")
            }
        }
        return status
    }
}

/// Forwards this process's signals to the remote command while it runs: the first Ctrl-C as SIGINT, a second
/// as SIGKILL; SIGTERM, SIGHUP and SIGQUIT as themselves; and, on a terminal, window-size changes.
final class SignalForwarding {
    private let caught: CaughtSignals

    init(input: ExecInput, terminal: Bool) {
        let interrupts = Atomic<Int>(0)
        var forwarded: [(Int32, @Sendable () -> String)] = [
            (SIGINT, { interrupts.add(1, ordering: .relaxed).newValue > 1 ? "KILL" : "INT" }),
            (SIGTERM, { "TERM" }), (SIGHUP, { "HUP" }), (SIGQUIT, { "QUIT" }),
        ]
        if terminal { forwarded.append((SIGWINCH, { "WINCH" })) }
        caught = CaughtSignals(forwarded.map { number, name in (number, Self.handler(number, name, input: input)) })
    }

    /// What signal `number` does: a window-size change resizes the remote terminal, any other signal is sent as
    /// `name` says.
    private static func handler(_ number: Int32, _ name: @escaping @Sendable () -> String, input: ExecInput)
        -> @Sendable () -> Void
    {
        {
            Task {
                if number == SIGWINCH {
                    let size = RawTerminal.current()
                    try? await input.resize(rows: size.rows, cols: size.cols, term: size.term)
                } else {
                    try? await input.signal(name())
                }
            }
        }
    }

    /// Stops forwarding and restores the default handling.
    func stop() {
        caught.stop()
    }
}
