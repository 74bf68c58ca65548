/// The ranges every number in a control message must lie in (docs/PROTOCOL.md section 3.3). A message is checked
/// against them as it is decoded, so no code behind the decoder ever sees an absurd value: a timeout of 1e19
/// seconds, a negative size, a mode with file-type bits, a terminal of a million rows. A message outside them is
/// refused `bad-message`.
public enum MessageRanges {
    /// The longest command timeout, in seconds: one year.
    public static let maxTimeout: Double = 365 * 24 * 3600
    /// Terminal rows and columns.
    public static let terminalSize: ClosedRange<Int> = 1...10_000
    /// The longest `TERM` value, in bytes.
    public static let maxTermLength = 256
    /// Permission bits: the file-type bits of `st_mode` are not part of a mode.
    public static let mode: ClosedRange<UInt32> = 0...0o7777
    /// Modification times, in seconds since 1970: from year 1 to year 9999.
    public static let fileTimeSeconds: ClosedRange<Int64> = -62_135_596_800...253_402_300_799
    /// Nanoseconds of a time.
    public static let nanoseconds: ClosedRange<Int> = 0...999_999_999
    /// Exit statuses.
    public static let exitStatus: ClosedRange<Int> = 0...255
    /// Signal numbers.
    public static let signalNumber: ClosedRange<Int> = 1...128
    /// Process ids (0 when a command could not start).
    public static let pid: ClosedRange<Int> = 0...Int(Int32.max)
    /// Versions a `hello` may offer.
    public static let maxVersions = 64
    /// A count of entries a listing skipped.
    public static let skipped: ClosedRange<Int> = 0...Int(UInt32.max)
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
    public static let seconds: ClosedRange<Double> = 0...maxTimeout
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
    /// The largest `auth.key` and publickey `auth.proof`: an Ed25519 key is 51 bytes and a P-256 signature
    /// about 100.
    public static let maxKeyBlob = 1024

    /// Checks that a bytes member holds at most `limit` bytes.
    static func checkAtMost(_ value: ControlMessage.Bytes, _ limit: Int, _ field: String) throws(ProtocolError) {
        guard value.bytes.count <= limit else {
            throw ProtocolError(.badMessage, "'\(field)' must be at most \(limit) bytes, not \(value.bytes.count)")
        }
    }

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
