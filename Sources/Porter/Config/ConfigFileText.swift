/// A line-based configuration file as words on numbered lines: the one reading that the client configuration
/// (``ClientConfigFile``) and the `udp chat` address book (``Contacts``) share, so that both have the same
/// comments and the same errors.
///
/// ```
/// # a comment line
/// keyword value value     # words are separated by spaces or tabs; a word starting with # ends the line
/// ```
///
/// Blank lines and comments are skipped; a mistake is reported as `FILE:LINE: message`, the form compilers use,
/// so that editors can jump to it.
public struct ConfigFileText: Sendable, Equatable {
    /// One line that holds words.
    public struct Line: Sendable, Equatable {
        /// The line's number in the file, from 1.
        public var number: Int
        /// The words, at least one.
        public var words: [String]

        /// Creates a line.
        public init(number: Int, words: [String]) {
            self.number = number
            self.words = words
        }
    }

    /// The largest configuration file read: far more than any real file holds.
    public static let maximumSize = 1024 * 1024

    /// How errors name the file, as the person gave it (`~/.porter/config`, `./friends.txt`).
    public var file: String
    /// The lines that hold words, in order.
    public var lines: [Line]

    /// Splits `text` into lines of words; `file` names it in errors.
    public init(_ text: String, file: String) {
        self.file = file
        var lines: [Line] = []
        // "\r\n" is one Character in Swift, so it is a separator of its own.
        let lineEnds: (Character) -> Bool = { $0 == "\n" || $0 == "\r\n" }
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: lineEnds).enumerated() {
            var words: [String] = []
            for word in raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) {
                if word.hasPrefix("#") { break }
                words.append(String(word))
            }
            if !words.isEmpty { lines.append(Line(number: index + 1, words: words)) }
        }
        self.lines = lines
    }

    /// Reads the file at `path`, or returns `nil` if nothing is there; `file` names it in errors and `what` says
    /// what it is ("config file").
    public static func read(at path: String, file: String, what: String) throws(PorterError) -> ConfigFileText? {
        guard let bytes = try LocalFile.readIfPresent(path, what: what, limit: maximumSize) else { return nil }
        return ConfigFileText(String(decoding: bytes, as: UTF8.self), file: file)
    }

    /// The error `message` about `line`: `FILE:LINE: message`.
    public func error(_ line: Line, _ message: String) -> PorterError {
        error(line: line.number, message)
    }

    /// The error `message` about the line numbered `line`: `FILE:LINE: message`.
    public func error(line: Int, _ message: String) -> PorterError {
        PorterError(.configuration, "\(file):\(line): \(message)")
    }
}
