import NIOCore

extension TimeAmount {
    /// The longest timer a front door sets: about a hundred years, far from the 292 years `Int64` nanoseconds hold.
    static let longestTimer = TimeAmount.hours(24 * 365 * 100)

    /// `seconds` as a time amount, held between one millisecond and ``longestTimer`` (NaN counts as the shortest),
    /// so that no configured number can trap when a timer is set.
    static func clamping(seconds: Double) -> TimeAmount {
        guard seconds >= 0.001 else { return .milliseconds(1) }
        guard seconds < Double(longestTimer.nanoseconds) / 1e9 else { return longestTimer }
        return .nanoseconds(Int64(seconds * 1e9))
    }
}
