/// Makes text from the network harmless to print on a terminal.
public enum TerminalText {
    /// `text` with every character that could move the cursor, change colours, retitle the window or reorder
    /// the line shown as a visible escape instead: C0 controls (newlines and ESC included), DEL, C1 controls,
    /// and the Unicode bidirectional overrides. Tabs stay as they are.
    public static func escaped(_ text: String) -> String {
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x09:
                result.unicodeScalars.append(scalar)
            case 0x0A: result += "\\n"
            case 0x0D: result += "\\r"
            case 0x00...0x1F, 0x7F...0x9F:
                result += "\\x" + hex(scalar.value, width: 2)
            case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
                result += "\\u{" + hex(scalar.value, width: 4) + "}"
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// A name read from a file system as raw bytes, shown like ``escaped(_:)`` with each byte that is not part
    /// of valid UTF-8 written as `\xFF`: a name that is not UTF-8 is shown as it is, never with U+FFFD in it.
    public static func escaped(bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var result = ""
        var start = 0
        while start < bytes.count {
            // The longest valid run from `start`, or the one byte there when none is.
            var end = start
            while end < bytes.count {
                let lead = bytes[end]
                let length =
                    lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 0
                guard length > 0, end + length <= bytes.count,
                    String(validating: bytes[end..<end + length], as: UTF8.self) != nil
                else { break }
                end += length
            }
            if end > start {
                result += escaped(String(decoding: bytes[start..<end], as: UTF8.self))
                start = end
            } else {
                result += "\\x" + hex(UInt32(bytes[start]), width: 2)
                start += 1
            }
        }
        return result
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
