import NIOCore
import PorterProtocol

/// Numbers of seconds as callers give them, turned into times that clocks and event loops can hold.
///
/// `Duration` and `TimeAmount` trap on a value they cannot represent (1e19 seconds, infinity, NaN): the library
/// entry points that take seconds go through here, so that a careless caller cannot crash the process.
public enum TimeLimit {
    /// The longest time limit kept: one year. A longer one, infinity included, is cut to it.
    public static let maxSeconds: Double = ControlMessage.Ranges.maxTimeout

    /// `seconds` within `0...maxSeconds`; NaN and negative values count as 0.
    public static func clamped(_ seconds: Double) -> Double {
        guard seconds > 0 else { return 0 }
        return min(seconds, maxSeconds)
    }

    /// `seconds`, clamped, for a person: `10`, `0.5`.
    public static func text(seconds: Double) -> String {
        let value = clamped(seconds)
        return value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// `seconds`, clamped, as an event-loop time.
    public static func timeAmount(seconds: Double) -> TimeAmount {
        .nanoseconds(Int64(clamped(seconds) * 1e9))
    }

    /// `seconds`, clamped, as a duration.
    public static func duration(seconds: Double) -> Duration {
        .nanoseconds(Int64(clamped(seconds) * 1e9))
    }
}
