/// The ranges of version 2's message members (docs/design/protocol-2.md section 6.2), where they differ from
/// version 1's ``ControlMessage/Ranges`` or are new. A message outside them is refused `bad-message` as it is
/// decoded.
public enum MessageRanges {
    /// `id` of pings and global requests, and `size` and `offset`: 0 to 2^53−1, exact as a double.
    public static let integer: ClosedRange<UInt64> = 0...MessageJSON.maxInteger
    /// `size` and `offset` as file positions: 0 to 2^53−1 bytes.
    public static let fileSize: ClosedRange<Int64> = 0...Int64(MessageJSON.maxInteger)
    /// `window` in `open` and `accept`: 0 to 2^32−1 bytes.
    public static let window: ClosedRange<Int> = 0...Int(UInt32.max)
    /// `versions` and `version`: 1 to 65,535.
    public static let version: ClosedRange<Int> = 1...65_535
    /// `maxControlPayload` as announced: at least 65,536 bytes, which every peer accepts.
    public static let maxControlPayload: ClosedRange<Int> = 65_536...Int(UInt32.max)
    /// `maxDataPayload` as announced: at least 16,384 bytes.
    public static let maxDataPayload: ClosedRange<Int> = 16_384...Int(UInt32.max)
    /// `grace`, `duration` and `idleTimeout`, in seconds: 0 to one year.
    public static let seconds: ClosedRange<Double> = 0...ControlMessage.Ranges.maxTimeout
    /// `port` of a forward target: 1 to 65,535.
    public static let port: ClosedRange<Int> = 1...65_535
    /// `originPort`: 0 to 65,535.
    public static let originPort: ClosedRange<Int> = 0...65_535
    /// The longest `host` and `originHost`, in bytes.
    public static let maxHostLength = 255

    /// Checks a duration member: finite and within ``seconds``.
    static func checkSeconds(_ value: Double, _ field: String) throws(ProtocolError) {
        guard value.isFinite, seconds.contains(value) else {
            throw ProtocolError(
                .badMessage, "'\(field)' must be a number of seconds from 0 to \(Int(seconds.upperBound))")
        }
    }

    /// Checks a byte string member (`nonce`, `proof`): exactly 32 bytes.
    static func checkThirtyTwoBytes(_ value: ControlMessage.Bytes, _ field: String) throws(ProtocolError) {
        guard value.bytes.count == ControlMessage.nonceLength else {
            throw ProtocolError(
                .badMessage, "'\(field)' must be \(ControlMessage.nonceLength) bytes, not \(value.bytes.count)")
        }
    }

    /// Checks a digest member (`prefix`, `digest`): lowercase hex, 32 digits for xxh128 or 64 for sha256; either
    /// when `checksum` is not known where the message is decoded.
    static func checkDigest(_ value: String, _ field: String, checksum: ControlMessage.Checksum? = nil)
        throws(ProtocolError)
    {
        let lengths: Set<Int> =
            switch checksum {
            case .xxh128: [32]
            case .sha256: [64]
            case nil: [32, 64]
            }
        let hex = value.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f"))
        }
        guard hex, lengths.contains(value.utf8.count) else {
            throw ProtocolError(
                .badMessage, "'\(field)' must be a digest in lowercase hex: 32 digits for xxh128, 64 for sha256")
        }
    }
}
