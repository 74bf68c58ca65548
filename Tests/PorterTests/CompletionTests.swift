import Foundation
import Testing

/// `porter completions SHELL` prints the argument parser's completion script for the command definitions.
@Suite(.timeLimit(.minutes(3))) struct CompletionTests {
    @Test(arguments: ["bash", "zsh", "fish"])
    func theScriptNamesEverySubcommand(shell: String) async throws {
        let script = try await TestProcess.run([TestProcess.porter, "completions", shell])
        #expect(script.status == 0, "\(script.errors)")
        for subcommand in [
            "serve", "hello", "exec", "shell", "get", "put", "ls", "chat", "udp", "config", "completions",
        ] {
            #expect(script.output.contains(subcommand), "the \(shell) script lacks \(subcommand)")
        }
        // The argument parser's own flag gives the same script.
        let flag = try await TestProcess.run([TestProcess.porter, "--generate-completion-script", shell])
        #expect(flag.status == 0)
        #expect(flag.output.trimmingCharacters(in: .newlines) == script.output.trimmingCharacters(in: .newlines))
    }

    /// The bash script parses, and completes as bash would call it: a subcommand, an option, a shell name.
    @Test func theBashScriptCompletes() async throws {
        let file = NSTemporaryDirectory() + "porter-completion-\(UUID().uuidString).bash"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let script = try await TestProcess.run([TestProcess.porter, "completions", "bash"])
        try script.output.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await TestProcess.run(["bash", "-n", file]).status == 0)
        // Bash calls the function with the command, the word being completed and the word before it.
        func complete(_ words: [String]) async throws -> String {
            let line = words.joined(separator: " ")
            let program = """
                source '\(file)'
                COMP_WORDS=(\(words.map { "'\($0)'" }.joined(separator: " "))); COMP_CWORD=\(words.count - 1)
                COMP_LINE='\(line)'; COMP_POINT=\(line.utf8.count)
                _porter porter '\(words[words.count - 1])' '\(words[words.count - 2])'
                echo "${COMPREPLY[*]}"
                """
            let result = try await TestProcess.run(["bash", "-c", program])
            #expect(result.status == 0, "\(result.errors)")
            return result.output.trimmingCharacters(in: .newlines)
        }
        #expect(try await complete(["porter", "se"]) == "serve")
        #expect(try await complete(["porter", "serve", "--ht"]) == "--http --http-head-timeout")
        #expect(try await complete(["porter", "completions", ""]) == "bash zsh fish")
    }

    @Test func anotherShellIsAUsageError() async throws {
        let result = try await TestProcess.run([TestProcess.porter, "completions", "tcsh"])
        #expect(result.status == 64)
        #expect(result.errors.contains("bash"))
    }
}
