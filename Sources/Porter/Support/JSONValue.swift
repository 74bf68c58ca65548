/// A JSON value whose objects keep their keys in the order given, so that an event always prints the same way.
///
/// Encoded by hand rather than with `JSONEncoder`: the order of keys is part of what docs/JSON.md shows, and an
/// event is written often enough (every chunk of a command's output, every event of a session recording) that
/// building a `Codable` type for each one would buy nothing. The client's `--json` events and the server's audit
/// log and recordings are written with it.
package enum JSONValue: Sendable {
    case string(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// An integer of any width; one beyond `Int64` (never seen in practice) is clamped.
    package static func integer(_ value: some BinaryInteger) -> JSONValue {
        .integer(Int64(clamping: value))
    }

    /// A duration in milliseconds, to the microsecond.
    package static func milliseconds(_ duration: Duration) -> JSONValue {
        let (seconds, attoseconds) = duration.components
        return .number(((Double(seconds) * 1e6 + Double(attoseconds) / 1e12).rounded()) / 1000)
    }

    /// A duration in seconds, to the microsecond.
    package static func seconds(_ seconds: Double) -> JSONValue {
        .number((seconds * 1e6).rounded() / 1e6)
    }

    /// Permission bits as four octal digits, `"0644"`, the way `chmod` takes them.
    package static func mode(_ mode: UInt32) -> JSONValue {
        let digits = String(mode & 0o7777, radix: 8)
        return .string(String(repeating: "0", count: max(0, 4 - digits.count)) + digits)
    }

    /// Appends the JSON text of this value to `text`.
    package func write(to text: inout String) {
        switch self {
        case .string(let value): Self.write(value, to: &text)
        case .integer(let value): text += String(value)
        // JSON has no infinity or NaN; no Porter figure is one, but a printed event must stay valid JSON.
        case .number(let value): text += value.isFinite ? Self.number(value) : "null"
        case .bool(let value): text += value ? "true" : "false"
        case .array(let values):
            text += "["
            for (index, value) in values.enumerated() {
                if index > 0 { text += "," }
                value.write(to: &text)
            }
            text += "]"
        case .object(let fields):
            text += "{"
            for (index, (key, value)) in fields.enumerated() {
                if index > 0 { text += "," }
                Self.write(key, to: &text)
                text += ":"
                value.write(to: &text)
            }
            text += "}"
        }
    }

    /// A finite number as JSON writes it: integral values without a fraction, others as Swift prints them
    /// (`0.25`, `1e-05`), which is valid JSON.
    private static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// A string with the escapes JSON requires (quote, backslash, control characters), and more: DEL and the C1
    /// controls, U+2028 and U+2029 (so that a line is also valid JavaScript), and the bidirectional embeddings,
    /// overrides and isolates (U+202A–U+202E, U+2066–U+2069), so that a terminal or an editor never sees a raw
    /// control character, and text from a peer cannot make a line read as another.
    private static func write(_ string: String, to text: inout String) {
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case "\u{8}": text += "\\b"
            case "\u{C}": text += "\\f"
            case "\u{0}"..."\u{1F}", "\u{7F}"..."\u{9F}", "\u{2028}"..."\u{202E}", "\u{2066}"..."\u{2069}":
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}
