import ArgumentParser
import Dispatch
import Porter

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension PorterCommand {
    /// `porter forward`: local TCP listeners whose connections the server carries on to a target, like
    /// `ssh -N -L`.
    struct Forward: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forward",
            abstract: "Forward local TCP ports to hosts the server reaches, over one connection (like ssh -N -L).",
            discussion: """
                Each -L listens on BIND_HOST:PORT (127.0.0.1 unless named; PORT 0 takes any free port) and carries \
                every connection accepted there to HOST:HOSTPORT as the server sees it, each on its own channel of \
                the one Porter connection. When every listener is bound, one line per listener says so on standard \
                error. A connection the server refuses (it forwards only with --allow-forward, and only to the \
                targets of --allow-forward-to if any are given; a target that cannot be reached) is closed with one \
                line saying why, and the listeners go on. Runs until interrupted (exit 0) or the connection is lost \
                (exit 255). When the server shuts down, the listeners close at once and the connections forwarded \
                then go on for the grace the server gives them.
                """
        )

        @OptionGroup var connection: ConnectionOptions

        @Option(
            name: .customShort("L"),
            help: ArgumentHelp(
                "A listener and its target: [BIND_HOST:]PORT:HOST:HOSTPORT, IPv6 addresses in brackets (repeatable).",
                valueName: "spec"))
        var local: [String] = []

        func validate() throws {
            guard !local.isEmpty else { throw ValidationError("name at least one -L [BIND_HOST:]PORT:HOST:HOSTPORT") }
            for spec in local {
                do {
                    _ = try ForwardRule(parsing: spec)
                } catch {
                    throw ValidationError(error.message)
                }
            }
        }

        func run() async throws {
            let rules = try local.map { spec throws(PorterError) in try ForwardRule(parsing: spec) }
            let events = connection.output.events
            try await connection.withConnection { connection in
                let via = "\(connection.endpoint)"
                let forwarding = Task {
                    try await connection.forward(rules) { event in Self.report(event, via: via, to: events) }
                }
                let stop = CaughtSignals.stopping { _ in forwarding.cancel() }
                defer { stop.stop() }
                try await forwarding.value
            }
            events.done()
        }

        /// What a person or a script is told of `event`.
        private static func report(_ event: ForwardEvent, via: String, to events: EventOutput) {
            switch event {
            case .listening(let rule, let address):
                let target = Self.target(rule)
                events.report(
                    JSONEvent(
                        "listening", ["listen": .string(address), "target": .string(target), "via": .string(via)])
                ) { Terminal.prompt("forwarding \(address) -> \(target) via \(via)\n") }
            case .opened(let rule, let origin):
                events.report(
                    JSONEvent(
                        "opened",
                        ["listen": .string(listen(rule)), "origin": .string(origin), "target": .string(target(rule))]))
            case .refused(let rule, let origin, let message):
                events.report(
                    JSONEvent(
                        "refused",
                        [
                            "listen": .string(listen(rule)), "origin": .string(origin),
                            "target": .string(target(rule)), "message": .string(message),
                        ])
                ) { Terminal.error("forward \(listen(rule)) -> \(target(rule)): \(message)") }
            case .closed(let rule, let origin, let sent, let received, let failure):
                events.report(
                    JSONEvent(
                        "closed",
                        [
                            "listen": .string(listen(rule)), "origin": .string(origin),
                            "target": .string(target(rule)), "sent": .integer(sent), "received": .integer(received),
                            "failure": failure.map(JSONValue.string),
                        ]))
            case .serverShuttingDown(let grace):
                events.report(JSONEvent("shutdown", ["grace": .seconds(grace)])) {
                    Terminal.error(
                        "the server is shutting down: the listeners are closed, and the connections forwarded now have \(TimeLimit.text(seconds: grace)) s to finish"
                    )
                }
            }
        }

        private static func listen(_ rule: ForwardRule) -> String {
            TerminalText.escaped(rule.listenAddress)
        }

        private static func target(_ rule: ForwardRule) -> String {
            TerminalText.escaped(rule.targetAddress)
        }
    }
}
