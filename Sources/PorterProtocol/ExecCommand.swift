/// How the server turns an `exec` request's `argv` into the program it starts, as ssh users expect.
///
/// Several words run as that argv, without a shell: `["ls", "-l", "my file"]` passes `my file` as one argument.
/// A single word containing shell syntax (spaces, quotes, `$`, `|`, `;`, `&`, `<`, `>`, globs…) runs through
/// `/bin/sh -c`, so `porter exec host -- 'ls | wc -l'` works as `ssh host 'ls | wc -l'` does. A single plain word
/// runs as a program.
public enum ExecCommand {
    /// The characters that make a single word a shell command line.
    public static let shellSyntax: Set<Character> = [
        " ", "\t", "\n", "|", "&", ";", "<", ">", "(", ")", "$", "`", "\\", "\"", "'", "*", "?", "[", "#", "~", "=",
    ]

    /// The argv to start for `argv`.
    ///
    /// - Throws: ``ProtocolError`` `bad-request` for an empty command or a NUL byte in an argument.
    public static func resolve(_ argv: [String]) throws(ProtocolError) -> [String] {
        guard let first = argv.first, !first.isEmpty else {
            throw ProtocolError(.badRequest, "empty command")
        }
        guard !argv.contains(where: { $0.utf8.contains(0) }) else {
            throw ProtocolError(.badRequest, "a command argument contains a NUL byte")
        }
        if argv.count == 1, first.contains(where: shellSyntax.contains) {
            return ["/bin/sh", "-c", first]
        }
        return argv
    }
}

/// Signals a client may send to a running command, by their POSIX names without `SIG`.
public enum ExecSignalName {
    /// The names a server accepts in `exec.signal`.
    public static let accepted: [String] = [
        "INT", "TERM", "KILL", "HUP", "QUIT", "USR1", "USR2", "CONT", "STOP", "WINCH",
    ]
}
