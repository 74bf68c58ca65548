/// The largest payloads a receiver accepts, per frame kind.
///
/// A header declaring more than the limit for its kind is refused when the header arrives, before any of the
/// payload is buffered, so a peer cannot make the receiver wait for or store an oversized frame.
///
/// Both sides announce theirs (`hello.limits`, `welcome.limits`): as JSON an object with the
/// members `maxControlPayload` and `maxDataPayload`.
public struct FrameLimits: Codable, Sendable, Equatable {
    /// The default largest control (JSON) payload: 64 KiB.
    public static let defaultMaxControlPayload = 64 * 1024
    /// The default largest data payload: 1 MiB.
    public static let defaultMaxDataPayload = 1024 * 1024

    /// The largest control payload accepted, in bytes.
    public var maxControlPayload: Int
    /// The largest data payload accepted, in bytes.
    public var maxDataPayload: Int

    /// Creates limits; the defaults are ``defaultMaxControlPayload`` and ``defaultMaxDataPayload``.
    public init(
        maxControlPayload: Int = FrameLimits.defaultMaxControlPayload,
        maxDataPayload: Int = FrameLimits.defaultMaxDataPayload
    ) {
        precondition(maxControlPayload > 0 && maxDataPayload > 0, "frame limits must be positive")
        self.maxControlPayload = min(maxControlPayload, Int(UInt32.max))
        self.maxDataPayload = min(maxDataPayload, Int(UInt32.max))
    }

    private enum CodingKeys: String, CodingKey {
        case maxControlPayload, maxDataPayload
    }

    /// Decodes announced limits as they are, unclamped: the message's validation checks their ranges.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.maxControlPayload = try container.decode(Int.self, forKey: .maxControlPayload)
        self.maxDataPayload = try container.decode(Int.self, forKey: .maxDataPayload)
    }

    /// The limit for frames of `kind`. Window, eof and close frames have fixed lengths (4, 0 and 0 bytes), which
    /// are also their limits.
    public func maxPayload(for kind: Frame.Kind) -> Int {
        switch kind {
        case .control: maxControlPayload
        case .data: maxDataPayload
        case .window: 4
        case .eof, .close: 0
        }
    }
}
