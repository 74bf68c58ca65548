import ArgumentParser
import NIOCore
import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// The `porter` command.
///
/// Every command states its `commandName`: the argument parser would otherwise derive it with
/// `String(describing:)`, whose protocol-conformance lookups were most of the start-up time of a short command.
@main
struct PorterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porter",
        abstract:
            "A remote shell, verified file transfer, chat, TCP and UDP echo and a status endpoint in one small, safe program.",
        discussion: """
            Start a server with `porter serve`, then use it from another terminal: `porter hello 127.0.0.1`.

            Client commands exit with 255 when Porter itself fails (cannot connect, authentication refused, \
            protocol error), as ssh does.
            """,
        version: PorterVersion.current,
        subcommands: [
            Serve.self, Hello.self, Echo.self, Exec.self, Shell.self, Get.self, Put.self, Ls.self, Chat.self, UDP.self,
            Forward.self, Keygen.self, Config.self, Completions.self,
        ]
    )

    /// Parses the command line and runs the command, as the argument parser's own `main` does, except that with
    /// `--json` a mistake on the command line is an `error` event (kind `usage`, exit status 64) on standard
    /// output, like every other error then.
    static func main() async {
        do {
            // Parsed synchronously, on the main thread: `--version`, `--help` and a mistake on the command line are
            // answered before any thread starts (the async parse runs on a new worker thread, 0.3 ms). Porter has
            // no asynchronous custom completions, the one thing only the async parse can run.
            var command = try parseAsRoot()
            // A client has one connection (a group at most 16, mostly waiting): one event-loop thread serves it,
            // and starting one thread instead of one per core is start-up time a short command saves. The server
            // keeps a loop per core.
            if !(command is Serve) { NIOSingletons.groupLoopCountSuggestion = 1 }
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            // A command's own exit status. The argument parser's `exit(withError:)` would first lay out the whole
            // help text for it, a third of a millisecond that every `porter exec` paid at its end.
            Glibc.exit(code.rawValue)
        } catch let error where OutputOptions.requested(in: CommandLine.arguments.dropFirst()) {
            let status = exitCode(for: error)
            // Help and --version are asked for, not mistakes: they print as always.
            guard status != .success else { exit(withError: error) }
            let kind = status == .validationFailure ? "usage" : "internal"
            exit(
                withError: EventOutput(json: true).failure(message(for: error), kind: kind, exitStatus: status.rawValue)
            )
        } catch {
            exit(withError: error)
        }
    }
}
