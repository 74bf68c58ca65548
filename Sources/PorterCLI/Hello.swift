import ArgumentParser
import Porter

extension PorterCommand {
    /// `porter hello`: the ping of Porter.
    struct Hello: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Greet a server: show its name, versions and the round-trip time."
        )

        @OptionGroup var connection: ConnectionOptions

        @Option(name: .shortAndLong, parsing: .unconditional, help: "Round trips to measure.")
        var count: Int = 5

        func validate() throws {
            guard (1...1000).contains(count) else { throw ValidationError("--count must be from 1 to 1000") }
        }

        func run() async throws {
            let events = connection.output.events
            let clock = ContinuousClock()
            let start = clock.now
            // A person reading the fingerprint prompt is not part of the connection's time.
            let prompt = Locked<Duration>(.zero)
            let (welcome, connected, rtts) = try await connection.withConnection(promptTime: prompt) { connection in
                let connected = clock.now - start - prompt.withLock { $0 }
                var rtts: [Duration] = []
                for _ in 0..<count {
                    let rtt = try await connection.ping()
                    events.report(JSONEvent("rtt", ["milliseconds": .milliseconds(rtt)]))
                    rtts.append(rtt)
                }
                return (connection.welcome, connected, rtts)
            }
            let sorted = rtts.sorted()
            let hello = JSONEvent(
                "hello",
                [
                    "connectMilliseconds": .milliseconds(connected), "pings": .integer(count),
                    "minMilliseconds": .milliseconds(sorted[0]),
                    "medianMilliseconds": .milliseconds(sorted[sorted.count / 2]),
                    "maxMilliseconds": .milliseconds(sorted[sorted.count - 1]),
                ])
            events.report(hello) {
                Terminal.line(
                    "hello from \(TerminalText.escaped(welcome.server)) (\(TerminalText.escaped(welcome.agent)), protocol \(welcome.version))"
                )
                Terminal.line("connected and authenticated in \(milliseconds(connected))")
                Terminal.line(
                    "round trip: min \(milliseconds(sorted[0])), median \(milliseconds(sorted[sorted.count / 2])), max \(milliseconds(sorted[sorted.count - 1])) over \(count) pings"
                )
            }
            events.done()
        }

        private func milliseconds(_ duration: Duration) -> String {
            let (seconds, attoseconds) = duration.components
            let value = Double(seconds) * 1000 + Double(attoseconds) / 1e15
            return FixedPoint.text(value, places: 3) + " ms"
        }
    }
}
