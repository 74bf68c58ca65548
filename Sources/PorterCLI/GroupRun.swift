import ArgumentParser
import Porter

/// Runs a command on every member of a config file's group at once, as pdsh does: each member's output lines
/// prefixed with its name (``MemberOutput``), or with `--json` its events each naming it, and one exit status for
/// the whole run.
enum GroupRun {
    /// The most members connected and running at once; the others wait for a free place.
    static let maxConcurrentMembers = 16

    /// Runs `body` for every member, at most ``maxConcurrentMembers`` at once, and returns the exit status: 0 when
    /// every member's is 0, else the highest. A member's Porter failure is a `NAME: porter: …` line (an `error`
    /// event with its `host`) and status 255 (1 for a refused request), as for one server; the other members carry
    /// on. With `--json` the run ends with one `done` event of the group's, naming no host.
    static func run(
        _ members: [ServerTarget], events: EventOutput,
        _ body: @escaping @Sendable (ServerTarget, MemberOutput) async throws -> Int32
    ) async -> Int32 {
        let highest = await withTaskGroup(of: Int32.self) { group in
            var waiting = members[...]
            for _ in 0..<maxConcurrentMembers {
                guard let member = waiting.popFirst() else { break }
                group.addTask { await runMember(member, events: events, body) }
            }
            var highest: Int32 = 0
            while let status = await group.next() {
                highest = max(highest, status)
                if let member = waiting.popFirst() { group.addTask { await runMember(member, events: events, body) } }
            }
            return highest
        }
        events.done(exitStatus: highest, [("members", .integer(members.count))])
        return highest
    }

    private static func runMember(
        _ member: ServerTarget, events: EventOutput,
        _ body: @Sendable (ServerTarget, MemberOutput) async throws -> Int32
    ) async -> Int32 {
        let output = MemberOutput(name: member.name, events: events)
        let status: Int32
        do {
            status = try await body(member, output)
        } catch let exit as ExitCode {
            status = exit.rawValue
        } catch {
            // Unfinished last lines first, then the line that says why they are the last.
            output.finish()
            return output.events.failure(error, human: output.error).rawValue
        }
        output.finish()
        return status
    }
}
