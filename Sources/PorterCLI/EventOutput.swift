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

    /// Serialises writers, so that events from several tasks never interleave within a line.
    private static let writing = Locked(())

    /// With `--json` writes `event` (if there is one); otherwise runs `human`, which writes what a person sees of
    /// it (if anything).
    func report(_ event: @autoclosure () -> JSONEvent?, human: () -> Void = {}) {
        if json {
            if let event = event() { Self.write(event) }
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

    /// Reports a failure that ends the command: an `error` event, or `porter: message` on standard error. Returns
    /// the exit status to throw.
    func failure(_ message: String, kind: String, exitStatus: Int32, code: String? = nil) -> ExitCode {
        report(
            JSONEvent(
                "error",
                [
                    "message": .string(message), "kind": .string(kind), "code": code.map(JSONValue.string),
                    "exitStatus": .integer(exitStatus),
                ])
        ) { Terminal.error(message) }
        return ExitCode(exitStatus)
    }

    /// ``failure(_:kind:exitStatus:code:)`` for a ``PorterError``: exit status 1 for a refused request, else
    /// `otherwise`.
    func failure(_ error: PorterError, otherwise: Int32 = 255) -> ExitCode {
        failure(
            error.message, kind: Self.kind(error.kind), exitStatus: error.kind == .refused ? 1 : otherwise,
            code: error.code?.rawValue)
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

    /// Writes one event, its line whole in one `write` (more only if the pipe takes part of it) under the lock.
    private static func write(_ event: JSONEvent) {
        let line = ByteBuffer(string: event.line)
        writing.withLock { _ in Terminal.write(line, to: STDOUT_FILENO) }
    }
}
