import NIOCore
import PorterProtocol

/// Numbers of seconds as callers give them, turned into times that clocks and event loops can hold.
///
/// `Duration` and `TimeAmount` trap on a value they cannot represent (1e19 seconds, infinity, NaN): the library
/// entry points that take seconds go through here, so that a careless caller cannot crash the process.
public enum TimeLimit {
    /// The longest time limit kept: one year. A longer one, infinity included, is cut to it.
    public static let maxSeconds: Double = MessageRanges.maxTimeout
    /// The shortest time limit above zero a person may give: one millisecond, the finest step Porter's timers keep.
    public static let minSeconds = 0.001

    /// Parses a time limit a person gave (an option, a configuration file): a finite number from ``minSeconds``
    /// to ``maxSeconds``, or 0 where the option takes it, `zero` saying what 0 means there ("never" for a timeout
    /// that is off, "none" for a grace period). Nothing else, `inf`, `nan`, 1e300 or a negative number, gets past
    /// here to a clock, where it would trap.
    ///
    /// - Throws: ``PorterError`` saying the range to give.
    public static func seconds(parsing text: String, zero: String? = nil) throws(PorterError) -> Double {
        let range = "from \(zero.map { "0 (\($0))" } ?? "\(minSeconds)") to \(Int(maxSeconds)) (a year)"
        guard let value = Double(text), value.isFinite else {
            throw PorterError(.configuration, "give a number of seconds \(range)")
        }
        guard (zero != nil && value == 0) || (minSeconds...maxSeconds).contains(value) else {
            throw PorterError(.configuration, "\(text) seconds is out of range: give a number of seconds \(range)")
        }
        return value == 0 ? 0 : value
    }

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
