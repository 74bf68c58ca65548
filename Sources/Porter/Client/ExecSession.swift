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
/// another. When ``next()`` returns `nil` the command has ended and ``exit`` says how; on protocol version 1 the
/// connection can then run the next request. On version 2 the command runs on an `exec` channel of its own, beside
/// the connection's other channels.
public final class ExecSession {
    /// The process id on the server (0 if the program could not be started).
    public let pid: Int
    /// Standard input, signals and terminal size; safe to use from another task.
    public let input: ExecInput
    /// How the command ended, once ``next()`` has returned `nil`.
    public private(set) var exit: ControlMessage.ExecExit?
    private let connection: ClientConnection?
    private let channel: ClientChannel?

    init(connection: ClientConnection, started: ControlMessage.ExecStarted, standardInput: Bool) {
        self.connection = connection
        self.channel = nil
        self.pid = started.pid
        let window = StdinWindow(started.window)
        if !standardInput { window.close() }
        self.input = ExecInput(
            output: .frames(connection.writer, window),
            maxFrame: connection.welcome.limits.maxDataPayload
        )
    }

    /// Version 2: the session on an accepted `exec` channel.
    init(channel: ClientChannel, pid: Int, standardInput: Bool, maxFrame: Int) {
        self.connection = nil
        self.channel = channel
        self.pid = pid
        self.input = ExecInput(
            output: .channel(channel, ExecInput.Ended(standardInput: standardInput)), maxFrame: maxFrame)
    }

    deinit {
        // A session given up before the command's exit closes its channel, which ends the command.
        if exit == nil { channel?.close() }
    }

    /// Gives up on the command: on protocol version 2 closes its channel, and on version 1 the connection. The
    /// server then ends the command as it ends one whose client left (SIGHUP and SIGTERM to its process group,
    /// SIGKILL after a grace period).
    public func close() {
        if let channel {
            channel.close()
        } else {
            connection?.writer.close()
        }
    }

    /// The command's next output, or `nil` once it has exited and all its output has arrived.
    public func next() async throws -> ExecOutput? {
        guard let connection else { return try await nextOnChannel() }
        while exit == nil {
            let frame = try await connection.frames.next()
            if frame.kind == .data {
                switch frame.stream {
                case .output: return .standardOutput(frame.payload)
                case .error: return .standardError(frame.payload)
                default:
                    throw PorterError(.protocolViolation, "the server sent data on stream \(frame.stream.rawValue)")
                }
            }
            switch try connection.frames.message(in: frame) {
            case .execWindow(let window):
                input.window?.grant(window.bytes)
            case .execExit(let report):
                exit = report
                input.window?.close()
            case .pong, .keepalive:
                continue
            case .error(let body):
                throw PorterError(remote: body)
            case let other:
                throw PorterError(.protocolViolation, "unexpected \(other.type) from the server during exec")
            }
        }
        return nil
    }

    /// Version 2: output until the server's eof, then `exec.exit`.
    private func nextOnChannel() async throws -> ExecOutput? {
        while exit == nil {
            let next = try await channel?.receive()
            switch next {
            case .data(.output, let bytes):
                return .standardOutput(bytes)
            case .data(.error, let bytes):
                return .standardError(bytes)
            case .eof:
                continue
            case .message(.execExit(let report)):
                exit = report
                input.ended?.end()
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
    enum Output: Sendable {
        /// Version 1: the connection, and the window the server granted.
        case frames(FrameWriter, StdinWindow)
        /// Version 2: the channel, whose credit is the window.
        case channel(ClientChannel, Ended)
    }

    /// Version 2: whether the command takes no more input (it has exited, or never had any).
    final class Ended: Sendable {
        private let flag: Locked<Bool>
        init(standardInput: Bool) { flag = Locked(!standardInput) }
        var hasEnded: Bool { flag.withLock { $0 } }
        func end() { flag.withLock { $0 = true } }
    }

    let output: Output
    let maxFrame: Int

    /// Version 2: standard input goes to the channel in pieces of at most this many bytes. A write returns at
    /// once while the channel is writable, so smaller pieces make ``send(_:)`` wait for the server's window, and
    /// see the command's end, rather than hand a large buffer to the connection in one go.
    static let channelPiece = 64 * 1024

    var window: StdinWindow? {
        guard case .frames(_, let window) = output else { return nil }
        return window
    }

    var ended: Ended? {
        guard case .channel(_, let ended) = output else { return nil }
        return ended
    }

    /// Sends `bytes` to the command's standard input, waiting while the server's window is full.
    ///
    /// - Returns: `false` if the command has ended, so nothing more will be read.
    @discardableResult
    public func send(_ bytes: ByteBuffer) async throws -> Bool {
        var rest = bytes
        switch output {
        case .frames(let writer, let window):
            while rest.readableBytes > 0 {
                let allowed = await window.acquire(upTo: min(rest.readableBytes, maxFrame))
                guard allowed > 0 else { return false }
                try await writer.send(.data(rest.readSlice(length: allowed)!))
            }
        case .channel(let channel, let ended):
            while rest.readableBytes > 0 {
                guard !ended.hasEnded else { return false }
                let chunk = rest.readSlice(length: min(rest.readableBytes, maxFrame, Self.channelPiece))!
                do {
                    // Waits while the server's credit or the connection holds writes back.
                    try await channel.write(.data(.main, chunk))
                } catch {
                    // The server closed the channel after the command's exit; a broken connection is what the
                    // reader of the output reports.
                    if ended.hasEnded || !channel.channel.isActive { return false }
                    throw ClientChannels.porterError(error)
                }
            }
        }
        return true
    }

    /// Ends standard input: the command reads end-of-file.
    public func finish() async throws {
        switch output {
        case .frames(let writer, _):
            try await writer.send(ControlMessage.execEOF)
        case .channel(let channel, let ended):
            do {
                try await channel.finish()
            } catch {
                if ended.hasEnded || !channel.channel.isActive { return }
                throw ClientChannels.porterError(error)
            }
        }
    }

    /// Delivers a signal, by name without `SIG` (`INT`, `TERM`, `KILL`, `HUP`…), to the command's process group.
    public func signal(_ name: String) async throws {
        switch output {
        case .frames(let writer, _): try await writer.send(ControlMessage.execSignal(.init(name: name)))
        case .channel(let channel, _): try await send(.execSignal(.init(name: name)), on: channel)
        }
    }

    /// Tells the command's terminal its new size.
    public func resize(rows: Int, cols: Int, term: String) async throws {
        switch output {
        case .frames(let writer, _):
            try await writer.send(ControlMessage.execResize(.init(term: term, rows: rows, cols: cols)))
        case .channel(let channel, _):
            try await send(.execResize(.init(rows: rows, cols: cols)), on: channel)
        }
    }

    /// Sends `message` on the channel; after the command's end it is dropped, as the server would ignore it.
    private func send(_ message: ChannelMessage, on channel: ClientChannel) async throws {
        do {
            try await channel.write(.message(message))
        } catch {
            if !channel.channel.isActive { return }
            throw ClientChannels.porterError(error)
        }
    }
}

/// The standard-input bytes the server will still accept; senders wait while it is zero.
final class StdinWindow: Sendable {
    private struct State {
        var available: Int
        var closed = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Locked<State>

    init(_ initial: Int) {
        state = Locked(State(available: initial))
    }

    /// Takes up to `limit` bytes of the window, waiting until some are available; 0 once closed.
    func acquire(upTo limit: Int) async -> Int {
        while true {
            let taken: Int? = state.withLock { state in
                if state.closed { return 0 }
                guard state.available > 0 else { return nil }
                let taken = min(limit, state.available)
                state.available -= taken
                return taken
            }
            if let taken { return taken }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.closed || state.available > 0 { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    func grant(_ bytes: Int) {
        let waiters = state.withLock { state in
            state.available += bytes
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
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
    ///   of seconds above zero and at most ``ControlMessage/Ranges/maxTimeout`` (every message the client sends
    ///   is checked against the ranges the server checks).
    public func exec(_ argv: [String], options: ExecOptions = ExecOptions()) async throws -> ExecSession {
        let request = ControlMessage.Exec(
            argv: argv, cwd: options.directory, env: options.environment.isEmpty ? nil : options.environment,
            timeout: options.timeout, pty: options.terminal, stdin: options.standardInput ? nil : false)
        if let channels {
            let opened = try await channels.openAccepted(.exec(request))
            guard case .exec(let pid) = opened.accept.details else {
                opened.channel.close()
                throw PorterError(.protocolViolation, "the server accepted an exec channel without a pid")
            }
            return ExecSession(
                channel: opened.channel, pid: pid, standardInput: options.standardInput || options.terminal != nil,
                maxFrame: welcome.limits.maxDataPayload)
        }
        try await writer.send(ControlMessage.exec(request))
        switch try await frames.nextMessage() {
        case .execStarted(let started):
            return ExecSession(connection: self, started: started, standardInput: options.standardInput)
        case let other:
            throw PorterError(.protocolViolation, "the server answered exec with \(other.type)")
        }
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
