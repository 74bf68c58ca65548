import ArgumentParser
import Porter

/// A number of seconds from the command line, checked where it is parsed: a finite number from ``minimum`` to
/// ``maximum`` (and 0 only for the options where it means "never"). Every timeout option takes one, so that no
/// absurd value (`inf`, `nan`, 1e300, a negative one) ever reaches a clock, where it would trap.
struct Seconds: Sendable, Hashable, ExpressibleByArgument, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// The longest time an option takes: one year (``TimeLimit/maxSeconds``).
    static let maximum = TimeLimit.maxSeconds
    /// The shortest time above zero: one millisecond (``TimeLimit/minSeconds``).
    static let minimum = TimeLimit.minSeconds

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
        try parse(text, zero: nil)
    }

    /// Parses a time limit for an option where 0 turns the limit off ("never").
    static func parseAllowingNever(_ text: String) throws -> Seconds {
        try parse(text, zero: "never")
    }

    /// Parses a grace period, where 0 gives none.
    static func parseAllowingNone(_ text: String) throws -> Seconds {
        try parse(text, zero: "none")
    }

    private static func parse(_ text: String, zero: String?) throws -> Seconds {
        do {
            return Seconds(value: try TimeLimit.seconds(parsing: text, zero: zero))
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// Help for a timeout option: `abstract`, the default if there is one, and the value name `seconds`.
    static func help(_ abstract: String, default value: Seconds? = nil) -> ArgumentHelp {
        ArgumentHelp(abstract + (value.map { " (default: \($0))" } ?? ""), valueName: "seconds")
    }

    var description: String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
