import ArgumentParser

extension PorterCommand {
    /// `porter completions`: the shell completion script, generated from the command definitions.
    struct Completions: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "completions",
            abstract: "Print the completion script for bash, zsh or fish.",
            discussion: """
                Save it where your shell loads completions from, for example: `porter completions bash > \
                ~/.local/share/bash-completion/completions/porter`, `porter completions zsh > \
                ~/.zfunc/_porter` (with ~/.zfunc in fpath before compinit) or `porter completions fish > \
                ~/.config/fish/completions/porter.fish`. The same script comes from `porter \
                --generate-completion-script SHELL`.
                """
        )

        /// The shells the argument parser writes completion scripts for.
        enum Shell: String, CaseIterable, ExpressibleByArgument {
            case bash, zsh, fish
        }

        @Argument(help: "The shell.")
        var shell: Shell

        func run() {
            let shell: CompletionShell =
                switch shell {
                case .bash: .bash
                case .zsh: .zsh
                case .fish: .fish
                }
            print(PorterCommand.completionScript(for: shell), terminator: "")
        }
    }
}
