import CPorterSystem
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
/// Spawned with the server's own `porter_spawn` rather than Foundation's `Process`: a child inherits the signal
/// mask of the thread that starts it, and the threads async code runs on block nearly every signal, so the child
/// would never see a SIGINT sent to it.
struct TestProcess: Sendable {
    let pid: pid_t

    /// The `porter` executable built beside the test bundle.
    static var porter: String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return directory.appendingPathComponent("porter").path
    }

    /// Starts `arguments` (searched in `PATH`) with standard input from `input` and output to `output` and
    /// `errors` (files, created if missing), in a process group of its own. It inherits those three streams and
    /// no other descriptor: one another test holds open (a locked file, a socket) must not outlive that test in
    /// a process this one started, such as a tmux server.
    /// `environment` replaces the test's own environment when given.
    static func start(
        _ arguments: [String], input: String = "/dev/null", output: String = "/dev/null", errors: String = "/dev/null",
        environment: [String: String]? = nil
    ) throws -> TestProcess {
        let streams = [
            open(input, O_RDONLY | O_CLOEXEC), open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644),
            open(errors, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644),
        ]
        defer { for stream in streams where stream >= 0 { close(stream) } }
        guard streams.allSatisfy({ $0 >= 0 }) else {
            throw TestFailure("cannot open the streams of \(arguments[0]): \(String(cString: strerror(errno)))")
        }
        var argv = arguments.map { strdup($0) } + [nil]
        var envp = (environment ?? [:]).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for argument in argv + envp { free(argument) } }
        var pid: pid_t = 0
        let status = argv.withUnsafeMutableBufferPointer { argv in
            envp.withUnsafeMutableBufferPointer { given in
                var io = porter_spawn_io(
                    stdin_fd: streams[0], stdout_fd: streams[1], stderr_fd: streams[2], tty_path: nil, cwd_fd: -1,
                    argv: argv.baseAddress, envp: environment == nil ? environ : given.baseAddress)
                return porter_spawn(&pid, &io)
            }
        }
        guard status == 0 else {
            throw TestFailure("cannot start \(arguments[0]): \(String(cString: strerror(status)))")
        }
        return TestProcess(pid: pid)
    }

    /// Runs `arguments` to the end and returns its exit status and its output and error output.
    static func run(_ arguments: [String], input: String = "/dev/null", environment: [String: String]? = nil)
        async throws -> (status: Int32, output: String, errors: String)
    {
        let base = NSTemporaryDirectory() + "porter-process-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        let process = try start(
            arguments, input: input, output: base + ".out", errors: base + ".err", environment: environment)
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
