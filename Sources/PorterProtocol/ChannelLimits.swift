/// The channel limits a version 2 server announces in `welcome` (docs/PROTOCOL.md section 4.2).
///
/// A client keeps to them; the server enforces them as frames arrive: an `open` beyond ``maxChannels`` is refused
/// `too-many-channels`, data beyond a window is fatal `flow-control`, more than ``maxGlobalRequests`` unanswered
/// global requests are fatal `limit-exceeded`.
public struct ChannelLimits: Codable, Sendable, Equatable {
    /// The default of ``maxChannels``: 128 channels in use at once.
    public static let defaultMaxChannels = 128
    /// The default of ``initialWindow``: 256 KiB.
    public static let defaultInitialWindow = 256 * 1024
    /// The default of ``maxWindow``: 4 MiB.
    public static let defaultMaxWindow = 4 * 1024 * 1024
    /// The default of ``maxGlobalRequests``: 16 unanswered at once.
    public static let defaultMaxGlobalRequests = 16

    /// The range of ``maxChannels``: 1 to 2^31−1.
    public static let maxChannelsRange: ClosedRange<Int> = 1...Int(Int32.max)
    /// The range of ``initialWindow``: 1 to 2^32−1 bytes.
    public static let initialWindowRange: ClosedRange<Int> = 1...Int(UInt32.max)
    /// The largest ``maxWindow``: 2^32−1 bytes (its smallest is ``initialWindow``).
    public static let largestWindow = Int(UInt32.max)
    /// The range of ``maxGlobalRequests``: 1 to 65,536.
    public static let maxGlobalRequestsRange: ClosedRange<Int> = 1...65_536

    /// Channels a client may have in use at once.
    public var maxChannels: Int
    /// The window, in bytes, the server grants each channel it accepts.
    public var initialWindow: Int
    /// The largest window, in bytes, the server grants any channel (an upload's).
    public var maxWindow: Int
    /// Global requests a client may have unanswered at once.
    public var maxGlobalRequests: Int

    /// Creates limits; each default is the `default…` constant of its field.
    public init(
        maxChannels: Int = ChannelLimits.defaultMaxChannels,
        initialWindow: Int = ChannelLimits.defaultInitialWindow,
        maxWindow: Int = ChannelLimits.defaultMaxWindow,
        maxGlobalRequests: Int = ChannelLimits.defaultMaxGlobalRequests
    ) {
        self.maxChannels = maxChannels
        self.initialWindow = initialWindow
        self.maxWindow = maxWindow
        self.maxGlobalRequests = maxGlobalRequests
    }

    /// Checks every field against its range.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/badMessage`` naming the field (`prefix` before it).
    public func validate(_ prefix: String = "") throws(ProtocolError) {
        try checkRange(maxChannels, in: Self.maxChannelsRange, prefix + "maxChannels")
        try checkRange(initialWindow, in: Self.initialWindowRange, prefix + "initialWindow")
        try checkRange(maxWindow, in: initialWindow...Self.largestWindow, prefix + "maxWindow")
        try checkRange(maxGlobalRequests, in: Self.maxGlobalRequestsRange, prefix + "maxGlobalRequests")
    }
}
