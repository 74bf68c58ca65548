import ArgumentParser
import Porter

/// A number of seconds from the command line, checked where it is parsed: a finite number from ``minimum`` to
/// ``maximum`` (and 0 only for the options where it means "never"). Every timeout option takes one, so that no
/// absurd value (`inf`, `nan`, 1e300, a negative one) ever reaches a clock, where it would trap.
struct Seconds: Sendable, Hashable, ExpressibleByArgument, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// The longest time an option takes: one year (``TimeLimit/maxSeconds``).
    static let maximum = TimeLimit.maxSeconds
    /// The shortest time above zero: one millisecond, the finest step Porter's timers keep.
    static let minimum = 0.001

    /// The number of seconds.
    let value: Double

    init(integerLiteral value: Int) {
        self.value = Double(value)
    }

    init?(argument: String) {
        guard let parsed = try? Self.parse(argument) else { return nil }
        self = parsed
    }

    private init(value: Double) {
        self.value = value
    }

    /// Parses a time limit above zero.
    static func parse(_ text: String) throws -> Seconds {
        try parse(text, allowingZero: false)
    }

    /// Parses a time limit for an option where 0 means "never".
    static func parseAllowingZero(_ text: String) throws -> Seconds {
        try parse(text, allowingZero: true)
    }

    private static func parse(_ text: String, allowingZero: Bool) throws -> Seconds {
        let range = "from \(allowingZero ? "0 (never)" : "\(minimum)") to \(Int(maximum)) (a year)"
        guard let value = Double(text), value.isFinite else {
            throw ValidationError("give a number of seconds \(range)")
        }
        guard (allowingZero && value == 0) || (minimum...maximum).contains(value) else {
            throw ValidationError("\(text) seconds is out of range: give a number of seconds \(range)")
        }
        return Seconds(value: value == 0 ? 0 : value)
    }

    /// Help for a timeout option: `abstract`, the default if there is one, and the value name `seconds`.
    static func help(_ abstract: String, default value: Seconds? = nil) -> ArgumentHelp {
        ArgumentHelp(abstract + (value.map { " (default: \($0))" } ?? ""), valueName: "seconds")
    }

    var description: String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
