import ArgumentParser

/// The `--json` flag of every client command.
struct OutputOptions: ParsableArguments {
    @Flag(
        name: .customLong("json"),
        help: "Print machine-readable events instead, one JSON object per line on standard output (docs/JSON.md).")
    var json = false

    /// Where the command's results go.
    var events: EventOutput { EventOutput(json: json) }

    /// Whether `arguments` (a command line without the program's name) ask a client command for `--json`: read
    /// before the parser runs, so that its own errors can be reported as events too. After `--` the words are a
    /// remote command's, not Porter's.
    static func requested(in arguments: some Sequence<String>) -> Bool {
        let words = Array(arguments.prefix { $0 != "--" })
        return words.first != "serve" && words.contains("--json")
    }
}
