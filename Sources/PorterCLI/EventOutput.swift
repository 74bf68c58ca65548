import ArgumentParser
import NIOCore
import Porter

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a client command tells its user: lines for a person, or, with `--json`, one JSON event per line on
/// standard output (docs/JSON.md), and then nothing for a person at all.
///
/// Each command says once, at each point, what a person sees and what a script gets; this type alone decides
/// which one happens.
struct EventOutput: Sendable {
    /// Whether events are written as JSON lines instead of text for a person.
    let json: Bool
    /// The group member these events are about: its name from the config file, the `host` field of every event
    /// written, right after `event`. `nil` for one server, and for a group's own events (its `done`).
    let host: String?

    init(json: Bool, host: String? = nil) {
        self.json = json
        self.host = host
    }

    /// The output of the group member `name`: the same choice of events or text, every event naming it.
    func member(_ name: String) -> EventOutput {
        EventOutput(json: json, host: name)
    }

    /// Serialises writers, so that events from several tasks never interleave within a line.
    private static let writing = Locked(())

    /// With `--json` writes `event` (if there is one); otherwise runs `human`, which writes what a person sees of
    /// it (if anything).
    func report(_ event: @autoclosure () -> JSONEvent?, human: () -> Void = {}) {
        if json {
            if let event = event() { write(event) }
        } else {
            human()
        }
    }

    /// Runs `human` only for a person: output that has no event (a prompt, a progress bar).
    func human(_ human: () -> Void) {
        if !json { human() }
    }

    /// A note that does not end the command: a `warning` event, or `porter: message` on standard error.
    func warning(_ message: String) {
        report(JSONEvent("warning", ["message": .string(message)])) { Terminal.error(message) }
    }

    /// The end of a command that succeeded (exit status 0) or ran a remote command whose status is
    /// `exitStatus`: a `done` event with `fields` and the status; nothing for a person.
    func done(exitStatus: Int32 = 0, _ fields: [(String, JSONValue)] = []) {
        report(JSONEvent("done", fields: fields + [("exitStatus", .integer(exitStatus))]))
    }

    /// Reports a failure that ends the command (or, for a group member, that member's part): an `error` event, or
    /// `human` with the message, by default `porter: message` on standard error. Returns the exit status to throw.
    func failure(
        _ message: String, kind: String, exitStatus: Int32, code: String? = nil,
        human: (String) -> Void = Terminal.error
    ) -> ExitCode {
        report(
            JSONEvent(
                "error",
                [
                    "message": .string(message), "kind": .string(kind), "code": code.map(JSONValue.string),
                    "exitStatus": .integer(exitStatus),
                ])
        ) { human(message) }
        return ExitCode(exitStatus)
    }

    /// ``failure(_:kind:exitStatus:code:human:)`` for a ``PorterError``: exit status 1 for a refused request, else
    /// `otherwise`.
    func failure(
        _ error: PorterError, otherwise: Int32 = 255, human: (String) -> Void = Terminal.error
    ) -> ExitCode {
        failure(
            error.message, kind: Self.kind(error.kind), exitStatus: error.kind == .refused ? 1 : otherwise,
            code: error.code?.rawValue, human: human)
    }

    /// ``failure(_:kind:exitStatus:code:human:)`` for any error: a ``PorterError`` as its kind says, anything else
    /// `internal` with exit status 255.
    func failure(_ error: any Error, human: (String) -> Void = Terminal.error) -> ExitCode {
        if let error = error as? PorterError { return failure(error, otherwise: 255, human: human) }
        return failure(ErrorText.describe(error), kind: "internal", exitStatus: 255, human: human)
    }

    /// The `kind` of an `error` event for a ``PorterError/Kind``: the names docs/JSON.md promises, which do not
    /// change when the library's do.
    static func kind(_ kind: PorterError.Kind) -> String {
        switch kind {
        case .configuration: "configuration"
        case .connection: "connection"
        case .authentication: "auth"
        case .protocolViolation: "protocol"
        case .refused: "refused"
        default: "internal"
        }
    }

    /// Writes one event, with ``host`` if there is one, its line whole in one `write` (more only if the pipe takes
    /// part of it) under the lock.
    private func write(_ event: JSONEvent) {
        let event = host.map { JSONEvent(event.name, fields: [("host", .string($0))] + event.fields) } ?? event
        let line = ByteBuffer(string: event.line)
        Self.writing.withLock { _ in _ = Terminal.write(line, to: STDOUT_FILENO) }
    }
}
