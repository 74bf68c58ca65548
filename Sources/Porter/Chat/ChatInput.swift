/// One line typed into a chat client, understood.
public enum ChatInput: Equatable, Sendable {
    /// Say the text to the room.
    case say(String)
    /// `/msg NAME TEXT`.
    case privateMessage(to: String, text: String)
    /// `/nick NAME`.
    case rename(String)
    /// `/who`.
    case who
    /// `/quit`.
    case quit
    /// A command used wrongly; the text says how to use it.
    case usage(String)
    /// An empty line.
    case nothing

    /// Parses a typed line. A line starting with `//` says the rest literally, starting with `/`.
    public init(_ line: String) {
        guard line.hasPrefix("/"), !line.hasPrefix("//") else {
            self = line.isEmpty ? .nothing : .say(line.hasPrefix("//") ? String(line.dropFirst()) : line)
            return
        }
        let parts = line.dropFirst().split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        let command = parts.first.map(String.init) ?? ""
        switch (command, parts.count) {
        case ("who", 1): self = .who
        case ("quit", 1): self = .quit
        case ("nick", 2): self = .rename(String(parts[1]))
        case ("msg", 3): self = .privateMessage(to: String(parts[1]), text: String(parts[2]))
        case ("nick", _): self = .usage("usage: /nick NAME")
        case ("msg", _): self = .usage("usage: /msg NAME TEXT")
        default:
            self = .usage(
                "unknown command /\(command); try /who, /nick NAME, /msg NAME TEXT, /quit (// to say a line starting with /)"
            )
        }
    }
}
