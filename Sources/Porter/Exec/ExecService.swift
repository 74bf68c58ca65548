import CPorterSystem
import Logging
import NIOCore
import PorterProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Runs commands for authenticated clients: `exec` requests, on pipes or a pseudo-terminal.
///
/// Each command runs in its own process group (a new session on a terminal). Its output is streamed as it is
/// produced, standard output and standard error as separate streams; standard input flows in within a window the
/// server grants, so neither side buffers without bound. When the command exits, whatever it left running in
/// its process group is killed; when the client disconnects or the timeout expires, the whole group is
/// terminated (SIGTERM, then SIGKILL after a grace period).
struct ExecService: Sendable {
    let configuration: ExecConfiguration
    /// The directory commands start in, and inside which a requested working directory must lie.
    private(set) var root: String
    /// The root, held open: working directories are opened beneath it.
    private var rootDirectory: ConfinedDirectory?
    /// The server's environment, which every command inherits (without the token variable).
    private let baseEnvironment: [String: String]
    /// A key's `command="…"`: what every request runs instead of its own command (``forcing(_:)``).
    private(set) var forcedCommand: String?

    /// The variable that tells a forced command what the client asked to run, as ssh's `SSH_ORIGINAL_COMMAND`.
    static let originalCommandVariable = "PORTER_ORIGINAL_COMMAND"

    /// Where running commands are registered for the status page and metrics.
    let activity: ServerActivity

    init(configuration: ExecConfiguration, root: String, activity: ServerActivity) {
        self.configuration = configuration
        self.root = root
        self.rootDirectory = try? ConfinedDirectory(path: root)
        self.activity = activity
        var environment = ProcessInfo.processInfo.environment
        environment[TokenFile.environmentVariable] = nil
        environment[Self.originalCommandVariable] = nil
        self.baseEnvironment = environment
    }

    /// The same service with its root moved to `components` beneath this one's (a key's `porter-root`): commands
    /// start there, and a requested working directory must lie inside it.
    ///
    /// - Throws: ``ProtocolError`` when that directory cannot be opened beneath the root.
    func confined(to components: [String]) throws(ProtocolError) -> ExecService {
        guard let rootDirectory else {
            throw ProtocolError(.internal, "the server's root directory is not available")
        }
        var confined = self
        confined.rootDirectory = try ConfinedDirectory(beneath: rootDirectory, components)
        confined.root = ([root] + components).joined(separator: "/")
        return confined
    }

    /// The same service running `command` for every request, through `/bin/sh -c`, as ssh runs an authorized
    /// key's `command="…"`. The client's argv, joined by spaces, is in `PORTER_ORIGINAL_COMMAND` (unset when the
    /// client asked for a shell; never taken from the client); it starts in the root, and a request that names a
    /// working directory is refused. The client's environment (on the accept list), terminal and timeout are
    /// honoured as for any request.
    func forcing(_ command: String) -> ExecService {
        var forced = self
        forced.forcedCommand = command
        return forced
    }

    /// Starts `request` under the server's policies, its streams on `eventLoop`: the policies where it is called,
    /// the spawn on `eventLoop` (``ChildProcess/spawn(argv:environment:directory:terminal:input:on:)``).
    ///
    /// - Parameter program: what the status page shows for the command; its program by default.
    /// - Returns: the running command, or what to report if its program could not be started (as a shell would);
    ///   fails with ``ProtocolError`` `bad-request` if a policy refuses the request (argv, environment, working
    ///   directory), `internal` if the server could not set the command up.
    func start(
        _ request: ControlMessage.Exec, program: String? = nil, on eventLoop: any EventLoop, logger: Logger
    ) -> EventLoopFuture<CommandStart> {
        let prepared: Prepared
        do {
            prepared = try prepare(request)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        let argv0 = prepared.argv[0]
        let spawned = ChildProcess.spawn(
            argv: prepared.argv, environment: prepared.environment, directory: prepared.directory,
            terminal: request.pty, input: request.stdin != false || request.pty != nil, on: eventLoop)
        return spawned.map { child in
            .started(running(child, request: request, program: program ?? argv0, logger: logger))
        }.flatMapErrorThrowing { error in
            guard let failure = error as? ChildProcess.SpawnFailure else {
                throw ProtocolError(.internal, "cannot set up the command's pipes: \(error)")
            }
            let notFound = failure.errno == ENOENT
            let reason = notFound ? "command not found" : String(cString: strerror(failure.errno))
            return .couldNotStart(message: "porter: \(argv0): \(reason)\n", status: notFound ? 127 : 126)
        }
    }

    /// ``start(_:program:on:logger:)`` from async code.
    func start(
        _ request: ControlMessage.Exec, program: String? = nil, on eventLoop: any EventLoop, logger: Logger
    ) async throws(ProtocolError) -> CommandStart {
        do {
            return try await start(request, program: program, on: eventLoop, logger: logger).get()
        } catch let error as ProtocolError {
            throw error
        } catch {
            throw ProtocolError(.internal, "cannot start the command: \(error)")
        }
    }

    /// Registers a command that started, and watches it until it exits.
    private func running(_ child: ChildProcess, request: ControlMessage.Exec, program: String, logger: Logger)
        -> RunningCommand
    {
        let pid = child.pid
        logger.info(
            "exec started",
            metadata: ["exec.pid": "\(pid)", "exec.argv0": "\(program)", "exec.pty": "\(request.pty != nil)"])
        let registration = activity.commandStarted(pid: pid, program: program)
        let activity = self.activity
        let command = RunningCommand(child: child, timeout: request.timeout, configuration: configuration) {
            activity.commandEnded(registration)
        }
        command.exit.whenSuccess { exit in
            logger.info(
                "exec ended",
                metadata: [
                    "exec.pid": "\(pid)", "exec.status": "\(exit.report.status.map(String.init) ?? "-")",
                    "exec.signal": "\(exit.report.signal ?? "-")",
                ])
        }
        return command
    }

    /// A request checked against the server's policies.
    struct Prepared {
        var argv: [String]
        var environment: [String: String]
        var directory: WorkingDirectory
    }

    func prepare(_ request: ControlMessage.Exec) throws(ProtocolError) -> Prepared {
        var environment = baseEnvironment
        let argv: [String]
        if let forcedCommand {
            // As ssh: the client chooses neither the command nor where it runs, since a command with a relative
            // path would otherwise run whatever that directory holds.
            guard request.cwd == nil else {
                throw ProtocolError(
                    .badRequest, "this key's command runs in the key's own directory; a working directory is refused")
            }
            guard !request.argv.contains(where: { $0.utf8.contains(0) }) else {
                throw ProtocolError(.badRequest, "an argument contains a NUL byte")
            }
            argv = ["/bin/sh", "-c", forcedCommand]
        } else if request.argv.isEmpty, request.pty != nil {
            argv = [configuration.shell ?? Self.loginShell(), "-l"]
        } else {
            argv = try ExecCommand.resolve(request.argv)
        }
        // Numbers (timeout, terminal size) were range-checked when the request was decoded.
        for (name, value) in request.env ?? [:] {
            guard !name.isEmpty, !name.contains("="), !name.utf8.contains(0), !value.utf8.contains(0) else {
                throw ProtocolError(.badRequest, "invalid environment variable name or value")
            }
            guard accepts(name), name != Self.originalCommandVariable else {
                throw ProtocolError(
                    .badRequest,
                    "the server does not accept the environment variable \(name) (accepted: \(configuration.acceptEnvironment.joined(separator: ", ")); see --accept-env)"
                )
            }
            environment[name] = value
        }
        if forcedCommand != nil, !request.argv.isEmpty {
            environment[Self.originalCommandVariable] = request.argv.joined(separator: " ")
        }
        return Prepared(argv: argv, environment: environment, directory: try directory(request.cwd))
    }

    private func accepts(_ name: String) -> Bool {
        configuration.acceptEnvironment.contains { pattern in
            pattern.hasSuffix("*") ? name.hasPrefix(pattern.dropLast()) : name == pattern
        }
    }

    /// The directory `cwd` names beneath the root (the root itself when it is empty), opened there by the kernel
    /// (`openat2` with `RESOLVE_BENEATH`, as files are): `..` or a symlink that leads out fails in the same step
    /// that opens it. A relative `cwd` is relative to the root; an absolute one must lie inside it.
    private func directory(_ cwd: String?) throws(ProtocolError) -> WorkingDirectory {
        guard let rootDirectory else {
            throw ProtocolError(.internal, "the server's root directory is not available")
        }
        var relative = cwd ?? ""
        if relative.hasPrefix("/") {
            guard let realRoot = realpath(root) else {
                throw ProtocolError(.internal, "the server's root directory is not available")
            }
            let inside = realRoot == "/" ? "/" : realRoot + "/"
            guard relative == realRoot || relative.hasPrefix(inside) else {
                throw ProtocolError(
                    .badRequest,
                    "directory \(TerminalText.escaped(relative)) is outside the server's root (\(TerminalText.escaped(realRoot))); give a directory inside it, or a path relative to it"
                )
            }
            relative = String(relative.dropFirst(min(inside.count, relative.count)))
        }
        let components: [String]
        do {
            components = try PeerPath.components(of: relative)
        } catch {
            throw ProtocolError(.badRequest, "directory: \(error.message)")
        }
        do {
            let descriptor = try rootDirectory.open(components, flags: PORTER_O_PATH | O_DIRECTORY)
            return WorkingDirectory(descriptor: descriptor)
        } catch {
            let shown = TerminalText.escaped(relative)
            switch error.code {
            case .notFound: throw ProtocolError(.badRequest, "no directory \(shown) inside the server's root")
            case .badPath: throw ProtocolError(.badRequest, "directory \(shown) is outside the server's root")
            default: throw ProtocolError(.badRequest, "cannot start in \(shown): \(error.message)")
            }
        }
    }

    private func realpath(_ path: String) -> String? {
        guard let resolved = Glibc.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func loginShell() -> String {
        if let entry = getpwuid(getuid()), let shell = entry.pointee.pw_shell {
            let path = String(cString: shell)
            if !path.isEmpty { return path }
        }
        return "/bin/sh"
    }
}

/// The limits and policies of command execution.
public struct ExecConfiguration: Sendable {
    /// Environment variables clients may set, as names or `PREFIX*` patterns (like OpenSSH's AcceptEnv).
    public var acceptEnvironment: [String]
    /// Seconds between SIGTERM and SIGKILL when the server terminates a command.
    public var terminationGrace: Double
    /// Seconds without output after the command exits (none read, none waiting for a slow client) before the
    /// server stops waiting for the output to end: a background process may hold it open.
    public var outputDrainGrace: Double
    /// The program `porter shell` starts when no command is given; `nil` for the server user's login shell.
    public var shell: String?

    /// The environment variables accepted by default: the locale, as OpenSSH's Debian default.
    public static let defaultAcceptEnvironment = ["LANG", "LC_*"]

    /// Creates a configuration.
    public init(
        acceptEnvironment: [String] = ExecConfiguration.defaultAcceptEnvironment,
        terminationGrace: Double = 2,
        outputDrainGrace: Double = 2,
        shell: String? = nil
    ) {
        self.acceptEnvironment = acceptEnvironment
        self.terminationGrace = terminationGrace
        self.outputDrainGrace = outputDrainGrace
        self.shell = shell
    }
}
