import NIOCore
import PorterProtocol

/// How a command runs on the server.
public struct ExecOptions: Sendable {
    /// The working directory, relative to the server's root; `nil` for the root.
    public var directory: String?
    /// Environment variables to set; the server accepts only those on its list.
    public var environment: [String: String]
    /// Seconds after which the server terminates the command; `nil` for no limit.
    public var timeout: Double?
    /// Run on a pseudo-terminal of this type and size instead of pipes (output then comes as standard output).
    public var terminal: ControlMessage.Terminal?
    /// Whether the command gets standard input from the client; `false` gives it `/dev/null`, as `ssh -n` does.
    public var standardInput: Bool

    /// Creates options.
    public init(
        directory: String? = nil, environment: [String: String] = [:], timeout: Double? = nil,
        terminal: ControlMessage.Terminal? = nil, standardInput: Bool = true
    ) {
        self.directory = directory
        self.environment = environment
        self.timeout = timeout
        self.terminal = terminal
        self.standardInput = standardInput
    }
}

/// Output from a running command.
public enum ExecOutput: Sendable, Equatable {
    /// Bytes the command wrote to standard output (on a terminal: everything it wrote).
    case standardOutput(ByteBuffer)
    /// Bytes the command wrote to standard error.
    case standardError(ByteBuffer)
}

/// A command running on the server, started by ``ClientConnection/exec(_:options:)``.
///
/// Read its output with ``next()`` from one task; feed its input through ``input``, which is safe to use from
/// another. When ``next()`` returns `nil` the command has ended and ``exit`` says how. The command runs on an `exec`
/// channel of its own, beside the connection's other channels.
public final class ExecSession {
    /// The process id on the server (0 if the program could not be started).
    public let pid: Int
    /// Standard input, signals and terminal size; safe to use from another task.
    public let input: ExecInput
    /// How the command ended, once ``next()`` has returned `nil`.
    public private(set) var exit: ControlMessage.ExecExit?
    private let channel: ClientChannel

    /// The session on an accepted `exec` channel.
    init(channel: ClientChannel, pid: Int, standardInput: Bool, maxFrame: Int) {
        self.channel = channel
        self.pid = pid
        self.input = ExecInput(
            channel: channel, ended: ExecInput.Ended(standardInput: standardInput), maxFrame: maxFrame)
    }

    deinit {
        // A session given up before the command's exit closes its channel, which ends the command.
        if exit == nil { channel.close() }
    }

    /// Gives up on the command: closes its channel. The server then ends the command as it ends one whose client
    /// left (SIGHUP and SIGTERM to its process group, SIGKILL after a grace period).
    public func close() {
        channel.close()
    }

    /// The command's next output, or `nil` once it has exited and all its output has arrived: output until the
    /// server's eof, then `exec.exit`.
    public func next() async throws -> ExecOutput? {
        while exit == nil {
            let next = try await channel.receive()
            switch next {
            case .data(.output, let bytes):
                return .standardOutput(bytes)
            case .data(.error, let bytes):
                return .standardError(bytes)
            case .eof:
                continue
            case .message(.execExit(let report)):
                exit = report
                input.ended.end()
            case .message(.reject(let error)), .message(.fail(let error)):
                throw PorterError(.refused, "server: \(TerminalText.escaped(error.message))", code: error.code)
            case nil:
                throw PorterError(.connection, "the server closed the exec channel before the command's exit")
            case let other?:
                throw PorterError(.protocolViolation, "unexpected \(other) from the server on an exec channel")
            }
        }
        return nil
    }
}

/// The input side of an ``ExecSession``: standard input, signals and the terminal's size.
public struct ExecInput: Sendable {
    /// Whether the command takes no more input (it has exited, or never had any).
    final class Ended: Sendable {
        private let flag: Locked<Bool>
        init(standardInput: Bool) { flag = Locked(!standardInput) }
        var hasEnded: Bool { flag.withLock { $0 } }
        func end() { flag.withLock { $0 = true } }
    }

    /// The command's channel, whose credit is the window.
    let channel: ClientChannel
    let ended: Ended
    let maxFrame: Int

    /// Standard input goes to the channel in pieces of at most this many bytes. A write returns at once while the
    /// channel is writable, so smaller pieces make ``send(_:)`` wait for the server's window, and see the
    /// command's end, rather than hand a large buffer to the connection in one go.
    static let channelPiece = 64 * 1024

    /// Sends `bytes` to the command's standard input, waiting while the server's window is full.
    ///
    /// - Returns: `false` if the command has ended, so nothing more will be read.
    @discardableResult
    public func send(_ bytes: ByteBuffer) async throws -> Bool {
        var rest = bytes
        while rest.readableBytes > 0 {
            guard !ended.hasEnded else { return false }
            let chunk = rest.readSlice(length: min(rest.readableBytes, maxFrame, Self.channelPiece))!
            do {
                // Waits while the server's credit or the connection holds writes back.
                try await channel.write(.data(.main, chunk))
            } catch {
                // The server closed the channel after the command's exit; a broken connection is what the reader
                // of the output reports.
                if ended.hasEnded || !channel.channel.isActive { return false }
                throw ClientChannels.porterError(error)
            }
        }
        return true
    }

    /// Ends standard input: the command reads end-of-file.
    public func finish() async throws {
        do {
            try await channel.finish()
        } catch {
            if ended.hasEnded || !channel.channel.isActive { return }
            throw ClientChannels.porterError(error)
        }
    }

    /// Delivers a signal, by name without `SIG` (`INT`, `TERM`, `KILL`, `HUP`…), to the command's process group.
    public func signal(_ name: String) async throws {
        try await send(.execSignal(.init(name: name)))
    }

    /// Tells the command's terminal its new size.
    public func resize(rows: Int, cols: Int, term: String) async throws {
        try await send(.execResize(.init(rows: rows, cols: cols)))
    }

    /// Sends `message` on the channel; after the command's end it is dropped, as the server would ignore it.
    private func send(_ message: ChannelMessage) async throws {
        do {
            try await channel.write(.message(message))
        } catch {
            if !channel.channel.isActive { return }
            throw ClientChannels.porterError(error)
        }
    }
}

/// A finished command's output and status, from ``ClientConnection/run(_:options:input:outputLimit:)``.
public struct ExecResult: Sendable {
    /// Everything the command wrote to standard output.
    public var standardOutput: ByteBuffer
    /// Everything the command wrote to standard error.
    public var standardError: ByteBuffer
    /// How it ended.
    public var exit: ControlMessage.ExecExit
}

extension ClientConnection {
    /// Starts `argv` on the server (see ``ExecCommand`` for when a shell is used).
    ///
    /// - Throws: ``PorterError`` of kind ``PorterError/Kind/refused`` if the server refuses the request (a
    ///   directory outside its root, an environment variable it does not accept); the connection stays usable.
    ///   Of kind ``PorterError/Kind/configuration``, before anything is sent, if `options.timeout` is not a number
    ///   of seconds above zero and at most ``MessageRanges/maxTimeout`` (every message the client sends
    ///   is checked against the ranges the server checks).
    public func exec(_ argv: [String], options: ExecOptions = ExecOptions()) async throws -> ExecSession {
        let request = ControlMessage.Exec(
            argv: argv, cwd: options.directory, env: options.environment.isEmpty ? nil : options.environment,
            timeout: options.timeout, pty: options.terminal, stdin: options.standardInput ? nil : false)
        let opened = try await channels.openAccepted(.exec(request))
        guard case .exec(let pid) = opened.accept.details else {
            opened.channel.close()
            throw PorterError(.protocolViolation, "the server accepted an exec channel without a pid")
        }
        return ExecSession(
            channel: opened.channel, pid: pid, standardInput: options.standardInput || options.terminal != nil,
            maxFrame: welcome.limits.frames.maxDataPayload)
    }

    /// Runs `argv` to the end with `input` as its standard input (`/dev/null` if `nil`), and collects its output.
    ///
    /// - Parameter outputLimit: the most bytes of output (both streams together) to collect; a command that
    ///   writes more is killed and the call throws.
    public func run(
        _ argv: [String], options: ExecOptions = ExecOptions(), input: ByteBuffer? = nil,
        outputLimit: Int = 64 * 1024 * 1024
    ) async throws -> ExecResult {
        var options = options
        options.standardInput = input != nil
        let session = try await exec(argv, options: options)
        let stdin = session.input
        return try await withThrowingTaskGroup(of: Void.self) { group in
            if let input {
                group.addTask {
                    if try await !stdin.send(input) { return }
                    try await stdin.finish()
                }
            }
            var standardOutput = ByteBuffer()
            var standardError = ByteBuffer()
            var exceeded = false
            while let output = try await session.next() {
                switch output {
                case .standardOutput(var bytes): standardOutput.writeBuffer(&bytes)
                case .standardError(var bytes): standardError.writeBuffer(&bytes)
                }
                if !exceeded, standardOutput.readableBytes + standardError.readableBytes > outputLimit {
                    exceeded = true
                    try await session.input.signal("KILL")
                }
            }
            try await group.waitForAll()
            guard !exceeded, let exit = session.exit else {
                throw PorterError(.refused, "the command's output exceeded the limit of \(outputLimit) bytes")
            }
            return ExecResult(standardOutput: standardOutput, standardError: standardError, exit: exit)
        }
    }
}
