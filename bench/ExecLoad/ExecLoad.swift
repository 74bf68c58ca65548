import ArgumentParser
import Foundation
import Porter
import PorterProtocol

/// Commands per second: N runs of one command over one Porter connection, or spawned locally, one after another
/// or `--parallel` at once. Prints one JSON line. The tasks prefer the connection's executor unless
/// `--executor global`.
@main
struct ExecLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porter-exec-load",
        abstract: "Run a command COUNT times over one Porter connection or locally, PARALLEL at a time."
    )

    enum Mode: String, ExpressibleByArgument {
        /// Over one authenticated Porter connection.
        case porter
        /// posix_spawn and waitpid on this machine: the ceiling for any remote execution.
        case local
    }

    @Option var mode: Mode = .porter
    @Option var host = "127.0.0.1"
    @Option var port = Endpoint.defaultPort
    @Option var count = 1000
    @Option(help: "Commands at once: tasks sharing the connection, or spawns before each wait.")
    var parallel = 1
    @Option(help: "Where the tasks run: on the connection's event loop, or the global executor.")
    var executor: Executor = .connection
    @Option(name: .customLong("token-file")) var tokenFile: String?

    enum Executor: String, ExpressibleByArgument {
        /// `ClientConnection.taskExecutor`: the tasks run on the thread that does the connection's I/O.
        case connection
        /// Swift's global executor, the default of any task.
        case global
    }
    @Option var fingerprint: String?
    @Argument(parsing: .postTerminator) var command: [String] = ["sh", "-c", "true"]

    func run() async throws {
        guard (1...1024).contains(parallel), count % parallel == 0 else {
            throw ValidationError("--parallel must be 1 to 1024 and divide --count")
        }
        let clock = ContinuousClock()
        let start = clock.now
        switch mode {
        case .local:
            for _ in 0..<(count / parallel) { try spawnAndWait(command, times: parallel) }
        case .porter:
            let token = try TokenFile.load(at: tokenFile ?? TokenFile.defaultPath)
            let trust =
                fingerprint.flatMap(Fingerprint.init).map(HostTrust.pinned) ?? .knownHosts(firstContact: .refuse)
            let configuration = ClientConfiguration(token: token, transport: .tls(trust))
            let argv = command
            let (tasks, each, executor) = (parallel, count / parallel, executor)
            try await PorterClient.withConnection(to: .tcp(host: host, port: port), configuration: configuration) {
                connection in
                let preferred = executor == .connection ? connection.taskExecutor : nil
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<tasks {
                        group.addTask(executorPreference: preferred) {
                            for _ in 0..<each {
                                let result = try await connection.run(argv)
                                guard result.exit.status == 0 else {
                                    throw ValidationError("the command failed: \(result.exit)")
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
        let elapsed = clock.now - start
        let seconds = elapsed / .seconds(1)
        let summary: [String: Any] = [
            "mode": mode.rawValue, "count": count, "parallel": parallel,
            "seconds": (seconds * 1000).rounded() / 1000,
            "per_second": (Double(count) / seconds).rounded(),
        ]
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    /// Spawns `argv` `times` times, then waits for them all.
    private func spawnAndWait(_ argv: [String], times: Int) throws {
        var arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        var pids: [pid_t] = []
        for _ in 0..<times {
            var pid: pid_t = 0
            let status = posix_spawnp(&pid, argv[0], nil, nil, &arguments, environ)
            guard status == 0 else {
                throw ValidationError("cannot start \(argv[0]): \(String(cString: strerror(status)))")
            }
            pids.append(pid)
        }
        for pid in pids {
            var exit: Int32 = 0
            while waitpid(pid, &exit, 0) < 0, errno == EINTR {}
        }
    }
}
