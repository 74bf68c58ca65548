import ArgumentParser
import Porter

extension PorterCommand {
    /// `porter hello`: the ping of Porter.
    struct Hello: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hello",
            abstract: "Greet a server: show its name, versions and the round-trip time.",
            discussion: """
                A group of the config file greets each of its hosts at once, every line prefixed with `NAME: ` \
                (with --json, every event of a host has its name as `host`); the exit status is 0 when all \
                answer, else the highest.
                """
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
            let count = count
            if let (_, members) = try connection.group() {
                throw ExitCode(
                    await GroupRun.run(members, events: events) { member, output in
                        let start = clock.now
                        let lines = try await member.withConnection(events: output.events) { connection in
                            try await Self.greet(
                                connection, connected: clock.now - start, count: count, events: output.events)
                        }
                        output.events.human { for line in lines { output.line(line) } }
                        return 0
                    })
            }
            let start = clock.now
            // A person reading the fingerprint prompt is not part of the connection's time.
            let prompt = Locked<Duration>(.zero)
            let lines = try await connection.withConnection(promptTime: prompt) { connection in
                try await Self.greet(
                    connection, connected: clock.now - start - prompt.withLock { $0 }, count: count, events: events)
            }
            events.human { for line in lines { Terminal.line(line) } }
            events.done()
        }

        /// Measures `count` round trips on `connection`, which took `connected` to open, reporting each as an `rtt`
        /// event and the whole as a `hello` event to `events`, and returns the lines that report them to a person.
        private static func greet(
            _ connection: ClientConnection, connected: Duration, count: Int, events: EventOutput
        ) async throws -> [String] {
            var rtts: [Duration] = []
            for _ in 0..<count {
                let rtt = try await connection.ping()
                events.report(JSONEvent("rtt", ["milliseconds": .milliseconds(rtt)]))
                rtts.append(rtt)
            }
            let welcome = connection.welcome
            let sorted = rtts.sorted()
            events.report(
                JSONEvent(
                    "hello",
                    [
                        "connectMilliseconds": .milliseconds(connected), "pings": .integer(count),
                        "minMilliseconds": .milliseconds(sorted[0]),
                        "medianMilliseconds": .milliseconds(sorted[sorted.count / 2]),
                        "maxMilliseconds": .milliseconds(sorted[sorted.count - 1]),
                    ]))
            return [
                "hello from \(TerminalText.escaped(welcome.server)) (\(TerminalText.escaped(welcome.agent)), protocol \(welcome.version))",
                "connected and authenticated \(connection.key.map { "with key \($0.fingerprint)" } ?? "with the token") in \(milliseconds(connected))",
                "round trip: min \(milliseconds(sorted[0])), median \(milliseconds(sorted[sorted.count / 2])), max \(milliseconds(sorted[sorted.count - 1])) over \(count) pings",
            ]
        }

        private static func milliseconds(_ duration: Duration) -> String {
            let (seconds, attoseconds) = duration.components
            let value = Double(seconds) * 1000 + Double(attoseconds) / 1e15
            return FixedPoint.text(value, places: 3) + " ms"
        }
    }
}
