import ArgumentParser
import Porter

/// The `porter` command.
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
            Completions.self,
        ]
    )
}
