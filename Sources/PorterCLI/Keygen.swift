import ArgumentParser
import Porter
import PorterProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension PorterCommand {
    /// `porter keygen`: a new Ed25519 key pair.
    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen",
            abstract: "Make an Ed25519 key pair: FILE (mode 0600) and FILE.pub.",
            discussion: """
                Both files are in OpenSSH's formats: ssh-keygen and ssh-agent read the private key, and the \
                public key's one line goes straight into a server's authorized keys file \
                (`porter serve --authorized-keys`). Neither file may exist yet. Client commands use \
                ~/.porter/id_ed25519 when no token or other key is found, or any key with --key FILE.
                """
        )

        @Option(
            name: .customLong("file"),
            help: ArgumentHelp("Where to write the private key (default: ~/.porter/id_ed25519).", valueName: "file"),
            completion: .file()
        )
        var file: String?

        @Option(
            name: .customLong("comment"),
            help: "The key's comment, shown in authorized keys files and logs (default: USER@HOST).")
        var comment: String?

        func validate() throws {
            if let comment, comment.contains(where: { $0.isNewline || $0 == "\0" }) {
                throw ValidationError("--comment must be one line")
            }
        }

        func run() throws {
            let path = file ?? KeyFile.defaultPath
            let info = ProcessInfo.processInfo
            let comment = self.comment ?? "\(info.environment["USER"] ?? "porter")@\(info.hostName)"
            let key = SSHPrivateKey.generateEd25519(comment: comment)
            let line: String
            do {
                line = try KeyFile.create(key, at: path)
            } catch {
                Terminal.error(error.message)
                throw ExitCode(1)
            }
            Terminal.line("private key: \(path) (mode 0600)")
            Terminal.line("public key: \(path).pub")
            Terminal.line("fingerprint: \(key.publicKey.fingerprint)")
            Terminal.line("add this line to the server's authorized keys file:")
            Terminal.line(line)
        }
    }
}
