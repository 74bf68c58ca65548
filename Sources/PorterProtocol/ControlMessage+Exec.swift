extension ControlMessage {
    /// The members of an `exec` open: run a command on the server.
    public struct Exec: Codable, Sendable, Equatable {
        /// The command and its arguments; see ``CommandLine/resolve(_:)`` for when a shell is used.
        public var argv: [String]
        /// The working directory, relative to the server's root; `nil` for the root itself.
        public var cwd: String?
        /// Environment variables to set, each allowed by the server's list.
        public var env: [String: String]?
        /// Seconds after which the server terminates the command; `nil` for no limit.
        public var timeout: Double?
        /// Run on a pseudo-terminal of this size instead of pipes.
        public var pty: Terminal?
        /// `false`: the command reads `/dev/null` and the client sends no input (like `ssh -n`); absent means true.
        public var stdin: Bool?
        /// Creates the payload.
        public init(
            argv: [String], cwd: String? = nil, env: [String: String]? = nil, timeout: Double? = nil,
            pty: Terminal? = nil, stdin: Bool? = nil
        ) {
            self.argv = argv
            self.cwd = cwd
            self.env = env
            self.timeout = timeout
            self.pty = pty
            self.stdin = stdin
        }
    }

    /// A terminal's type and size.
    public struct Terminal: Codable, Sendable, Equatable {
        /// The `TERM` value, e.g. `xterm-256color`.
        public var term: String
        /// Rows.
        public var rows: Int
        /// Columns.
        public var cols: Int
        /// Creates the payload.
        public init(term: String, rows: Int, cols: Int) {
            self.term = term
            self.rows = rows
            self.cols = cols
        }
    }

    /// Payload of `exec.signal`: deliver a signal to the command's process group.
    public struct ExecSignal: Codable, Sendable, Equatable {
        /// The signal's name without `SIG`: one of ``ExitStatus/signalNames``' values.
        public var name: String
        /// Creates the payload.
        public init(name: String) { self.name = name }
    }

    /// Payload of `exec.exit`: the command has ended and all its output has been sent.
    public struct ExecExit: Codable, Sendable, Equatable {
        /// The exit status, if the command exited.
        public var status: Int?
        /// The signal's name (without `SIG`), if a signal ended the command.
        public var signal: String?
        /// The signal's number on the server, if a signal ended the command.
        public var signalNumber: Int?
        /// Whether the server ended the command because its `timeout` expired.
        public var timedOut: Bool
        /// Seconds from start to exit.
        public var duration: Double
        /// Creates the payload.
        public init(status: Int?, signal: String?, signalNumber: Int?, timedOut: Bool, duration: Double) {
            self.status = status
            self.signal = signal
            self.signalNumber = signalNumber
            self.timedOut = timedOut
            self.duration = duration
        }
    }
}
