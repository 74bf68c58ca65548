import Foundation
import Porter
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Whether the external tool `name` can run here. CI installs every tool the tests use and sets
/// `PORTER_REQUIRE_TOOLS=1`, which turns a missing tool into a failure instead of a skipped test.
func toolAvailable(_ name: String) -> Bool {
    ProcessInfo.processInfo.environment["PORTER_REQUIRE_TOOLS"] == "1"
        || ["/usr/bin/", "/usr/sbin/", "/bin/"].contains { FileManager.default.isExecutableFile(atPath: $0 + name) }
}

/// A program started for a test, with its standard streams on files.
///
/// Spawned directly rather than with Foundation's `Process`: a child inherits the signal mask of the thread that
/// starts it, and the threads async code runs on block nearly every signal, so the child would never see a
/// SIGINT sent to it.
struct TestProcess: Sendable {
    let pid: pid_t

    /// The `porter` executable built beside the test bundle.
    static var porter: String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return directory.appendingPathComponent("porter").path
    }

    /// Starts `arguments` (searched in `PATH`) with standard input from `input` and output to `output` and
    /// `errors` (files, created if missing).
    static func start(
        _ arguments: [String], input: String = "/dev/null", output: String = "/dev/null", errors: String = "/dev/null"
    ) throws -> TestProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, arguments[0], &actions, &attributes, &argv, environ)
        guard status == 0 else {
            throw TestFailure("cannot start \(arguments[0]): \(String(cString: strerror(status)))")
        }
        return TestProcess(pid: pid)
    }

    /// Runs `arguments` to the end and returns its exit status and its output and error output.
    static func run(_ arguments: [String], input: String = "/dev/null") async throws -> (
        status: Int32, output: String, errors: String
    ) {
        let base = NSTemporaryDirectory() + "porter-process-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        let process = try start(arguments, input: input, output: base + ".out", errors: base + ".err")
        let status = try await process.wait()
        return (
            status, (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        )
    }

    /// Sends `signal` to the process.
    func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits for the process to end; its exit status, or 128+N if signal N ended it.
    func wait(seconds: Double = 30) async throws -> Int32 {
        let pid = self.pid
        let status = Locked<Int32?>(nil)
        try await waitUntil(seconds: seconds) {
            var raw: Int32 = 0
            guard waitpid(pid, &raw, WNOHANG) == pid else { return false }
            status.withLock { $0 = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f) }
            return true
        }
        return status.withLock { $0 } ?? -1
    }
}
