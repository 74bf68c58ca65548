import ArgumentParser
import Porter
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#endif

extension PorterCommand {
    /// `porter exec`: run a command on the server.
    struct Exec: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exec",
            abstract: "Run a command on the server, as `ssh host COMMAND` does.",
            discussion: """
                The command's standard output and error arrive on yours, byte for byte; your standard input is \
                sent to it until end of file; Ctrl-C is forwarded as SIGINT (twice: SIGKILL). The exit status is \
                the command's, 128+N if signal N ended it, 255 if Porter itself failed. Several words run as that \
                argv without a shell; one word with shell syntax runs through /bin/sh -c. With no command, opens \
                an interactive shell like `porter shell`.

                A group of the config file runs the command on each of its hosts at once (at most \
                \(GroupRun.maxConcurrentMembers) at a time), every output line prefixed with `NAME: ` (with \
                --json, every event of a host has its name as `host`); standard input is not forwarded to them, \
                and each host must be pinned or known already (nobody is asked). The exit status is 0 when all \
                succeed, else the highest.
                """
        )

        @OptionGroup var connection: ConnectionOptions

        @Option(
            name: .customLong("timeout"), parsing: .unconditional,
            help: Seconds.help("Seconds after which the server terminates the command."),
            transform: Seconds.parse)
        var timeout: Seconds?

        @Option(name: .customLong("cwd"), help: "Working directory, relative to the server's root.")
        var directory: String?

        @Option(
            name: .customLong("env"),
            help: "Set NAME=VALUE for the command; repeatable. The server accepts only names on its list.")
        var environment: [String] = []

        @Flag(
            name: [.customShort("t"), .customLong("tty")],
            help:
                "Run the command on a pseudo-terminal if standard input is a terminal; twice (-tt) to have one even when it is not, as ssh does."
        )
        var tty: Int

        @Flag(name: .customShort("n"), help: "Give the command /dev/null as standard input, as `ssh -n` does.")
        var noInput = false

        @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
        var command: [String] = []

        func validate() throws {
            for entry in environment where !entry.contains("=") || entry.hasPrefix("=") {
                throw ValidationError("--env takes NAME=VALUE, got '\(entry)'")
            }
            if connection.output.json, tty > 0 {
                throw ValidationError("--json and -t do not go together: a pseudo-terminal's output is for a screen")
            }
        }

        func run() async throws {
            // Standard input that is /dev/null is `-n`: the server gives the command its own, and no reader starts.
            var options = ExecOptions(
                directory: directory, timeout: timeout?.value, standardInput: !noInput && !StandardInput.isNullDevice())
            for entry in environment {
                let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                options.environment[String(parts[0])] = String(parts[1])
            }
            if let (group, members) = try connection.group() {
                throw ExitCode(try await run(on: group, members, options: options))
            }
            if command.isEmpty {
                throw ExitCode(try await Shell.open(connection, options: options))
            }
            if tty > 0 {
                if isatty(STDIN_FILENO) == 1 || tty > 1 {
                    options.terminal = RawTerminal.current()
                } else {
                    Terminal.error(
                        "Pseudo-terminal will not be allocated because stdin is not a terminal (-tt forces one)")
                }
            }
            let argv = command
            let events = connection.output.events
            let status = try await connection.withConnection { connection in
                try await RemoteCommand.run(argv, options: options, on: connection, events: events)
            }
            events.done(exitStatus: status)
            throw ExitCode(status)
        }

        /// Runs the command on every member of `group` at once, without standard input, each output line
        /// prefixed with the member's name (with `--json`, each event naming it); the exit status is 0 when all
        /// succeed, else the highest.
        private func run(on group: ServerGroup, _ members: [ServerTarget], options: ExecOptions) async throws -> Int32 {
            guard !command.isEmpty else {
                throw connection.usageError(
                    "\(group.name) is a group: give a command after -- to run on each of its hosts (a shell needs one host)"
                )
            }
            guard tty == 0 else {
                throw connection.usageError(
                    "-t needs one host: the commands of a group run without a terminal")
            }
            let argv = command
            return await GroupRun.run(members, events: connection.output.events) { member, output in
                try await member.withConnection(events: output.events) { connection in
                    try await RemoteCommand.run(argv, options: options, on: connection, member: output)
                }
            }
        }
    }

    /// `porter shell`: an interactive shell on the server.
    struct Shell: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "shell",
            abstract: "Open an interactive shell on the server, as `ssh host` does.",
            discussion: """
                On a terminal, the remote shell runs on a pseudo-terminal: your terminal is in raw mode until it \
                ends (and restored however it ends), window-size changes follow you, Ctrl-C, Ctrl-D and Ctrl-Z \
                reach the remote side, and the exit status is the shell's. Without a terminal, or with --json, \
                reads one command per line from standard input, runs each and prints its output, prompting on \
                standard error before each (with --json: a `command` event instead).
                """
        )

        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            throw ExitCode(try await Self.open(connection, options: ExecOptions()))
        }

        /// Opens the shell and returns the exit status to end with.
        static func open(_ connection: ConnectionOptions, options: ExecOptions) async throws -> Int32 {
            var options = options
            let events = connection.output.events
            // Events are lines for a program, never a screen: with --json the shell is always in line mode.
            guard isatty(STDIN_FILENO) == 1, !events.json else {
                let status = try await connection.withConnection { connection in
                    try await lineMode(connection, options: options, events: events)
                }
                events.done(exitStatus: status)
                return status
            }
            options.terminal = RawTerminal.current()
            return try await connection.withConnection { connection in
                try await RemoteCommand.run([], options: options, on: connection, events: events)
            }
        }

        /// The line mode: a prompt, a command, its output, and again, until end of input.
        private static func lineMode(
            _ connection: ClientConnection, options: ExecOptions, events: EventOutput
        ) async throws -> Int32 {
            // Standard input holds the commands: the commands themselves read /dev/null.
            var options = options
            options.standardInput = false
            var input = StandardInput()
            var status: Int32 = 0
            let prompt = "porter \(connection.endpoint)$ "
            while true {
                events.human { Terminal.prompt(prompt) }
                guard let line = try await input.nextLine() else { break }
                let text = String(decoding: line, as: UTF8.self).trimmingWhitespace()
                if text.isEmpty { continue }
                if text == "exit" { break }
                events.report(JSONEvent("command", ["command": .string(text)]))
                status = try await RemoteCommand.run([text], options: options, on: connection, events: events)
            }
            return status
        }
    }
}
