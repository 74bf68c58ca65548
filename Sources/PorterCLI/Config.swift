import ArgumentParser
import Porter

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension PorterCommand {
    /// `porter config`: the client config file, which names servers.
    struct Config: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "config",
            abstract: "The client config file, which names servers and groups of them.",
            discussion: """
                The file is --config FILE, else $PORTER_CONFIG, else ~/.porter/config (which may be missing). \
                It has ssh_config's shape: `host NAME` starts a block of `endpoint HOST:PORT` (required), \
                `fingerprint SHA256:…`, `token-file FILE`, `key FILE` (a private key, used instead of the token), \
                `connect-timeout SECONDS` and `plaintext`; `group NAME \
                HOST...` names several hosts. Every client command then takes NAME in place of an endpoint, and \
                `porter exec` and `porter hello` take a group. Options on the command line win over the file.
                """,
            subcommands: [Check.self]
        )
    }
}

extension PorterCommand.Config {
    /// `porter config check`: validate the file and summarise it.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check the config file: print its hosts and groups, or its first mistake (exit status 64)."
        )

        @Option(
            name: .customLong("config"),
            help: ArgumentHelp(
                "The file to check (default: $PORTER_CONFIG, else ~/.porter/config).", valueName: "file"),
            completion: .file()
        )
        var config: String?

        func run() throws {
            let file: ClientConfigFile?
            do {
                file = try ClientConfigFile.load(option: config, environment: ProcessInfo.processInfo.environment)
            } catch {
                throw EventOutput(json: false).failure(
                    error.message, kind: "usage", exitStatus: ExitCode.validationFailure.rawValue)
            }
            guard let file else {
                Terminal.line("\(ClientConfigFile.defaultName) does not exist: no servers are named")
                return
            }
            let (hosts, groups) = (file.servers.count, file.groups.count)
            Terminal.line(
                "\(file.file): \(hosts) host\(hosts == 1 ? "" : "s"), \(groups) group\(groups == 1 ? "" : "s")")
            for server in file.servers { Terminal.line(Self.describe(server)) }
            for group in file.groups {
                Terminal.line((["group", group.name] + group.members).joined(separator: " "))
            }
        }

        /// A server as one line of the file's own words, paths expanded.
        private static func describe(_ server: NamedServer) -> String {
            var words = ["host", server.name, "endpoint", "\(server.endpoint)"]
            if let fingerprint = server.fingerprint { words += ["fingerprint", "\(fingerprint)"] }
            if let tokenFile = server.tokenFile { words += ["token-file", tokenFile] }
            if let keyFile = server.keyFile { words += ["key", keyFile] }
            if let timeout = server.connectTimeout { words += ["connect-timeout", TimeLimit.text(seconds: timeout)] }
            if server.plaintext { words.append("plaintext") }
            return words.joined(separator: " ")
        }
    }
}
