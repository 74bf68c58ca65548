import ArgumentParser
import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a command on every member of a config file's group at once, as pdsh does: each member's output lines
/// prefixed with its name (``MemberOutput``), and one exit status for the whole run.
enum GroupRun {
    /// The most members connected and running at once; the others wait for a free place.
    static let maxConcurrentMembers = 16

    /// Runs `body` for every member, at most ``maxConcurrentMembers`` at once, and returns the exit status: 0 when
    /// every member's is 0, else the highest. A member's Porter failure is a `NAME: porter: …` line and status
    /// 255 (1 for a refused request), as for one server; the other members carry on.
    static func run(
        _ members: [ServerTarget], _ body: @escaping @Sendable (ServerTarget, MemberOutput) async throws -> Int32
    ) async -> Int32 {
        await withTaskGroup(of: Int32.self) { group in
            var waiting = members[...]
            for _ in 0..<maxConcurrentMembers {
                guard let member = waiting.popFirst() else { break }
                group.addTask { await runMember(member, body) }
            }
            var highest: Int32 = 0
            while let status = await group.next() {
                highest = max(highest, status)
                if let member = waiting.popFirst() { group.addTask { await runMember(member, body) } }
            }
            return highest
        }
    }

    /// Runs `argv` on one member without standard input and returns its exit status, as `porter exec` does for
    /// one server.
    static func exec(
        _ argv: [String], options: ExecOptions, on connection: ClientConnection, output: MemberOutput
    ) async throws -> Int32 {
        let session = try await connection.exec(argv, options: options)
        while let chunk = try await session.next() {
            switch chunk {
            case .standardOutput(let bytes): output.write(bytes, to: STDOUT_FILENO)
            case .standardError(let bytes): output.write(bytes, to: STDERR_FILENO)
            }
        }
        output.finish()
        guard let exit = session.exit else { return 255 }
        if exit.timedOut {
            output.error("the command ran past its time limit of \(options.timeout ?? 0) s and was terminated")
        }
        if let status = exit.status { return Int32(clamping: status) }
        return 128 + Int32(clamping: exit.signalNumber ?? 0)
    }

    private static func runMember(
        _ member: ServerTarget, _ body: @Sendable (ServerTarget, MemberOutput) async throws -> Int32
    ) async -> Int32 {
        let output = MemberOutput(name: member.name)
        let status: Int32
        do {
            status = try await body(member, output)
        } catch let exit as ExitCode {
            status = exit.rawValue
        } catch let error as PorterError {
            output.finish()
            output.error(error.message)
            return error.kind == .refused ? 1 : 255
        } catch {
            output.finish()
            output.error(ErrorText.describe(error))
            return 255
        }
        output.finish()
        return status
    }
}
