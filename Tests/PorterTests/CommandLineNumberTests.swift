import Foundation
import Porter
import Testing

/// Numbers on the command line are range-checked where they are parsed: an absurd one is a usage error (exit 64),
/// never a trap with a backtrace, and never sent to a server.
@Suite(.timeLimit(.minutes(3))) struct CommandLineNumberTests {
    /// A token file, so that a command that got past its options would go on to connect.
    private static let tokenFile: String = {
        let path = NSTemporaryDirectory() + "porter-numbers-token-\(UUID().uuidString)"
        _ = FileManager.default.createFile(
            atPath: path, contents: Data(testToken.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }()

    private static let absurdSeconds = ["inf", "-inf", "nan", "1e300", "1e19", "-1", "0", "0.0000001", "ten"]

    private static var client: [[String]] {
        absurdSeconds.flatMap { value in
            [
                ["exec", "127.0.0.1:9", "--token-file", tokenFile, "--connect-timeout", value, "--", "true"],
                ["exec", "127.0.0.1:9", "--token-file", tokenFile, "--timeout", value, "--", "true"],
                ["hello", "127.0.0.1:9", "--token-file", tokenFile, "--connect-timeout", value],
                ["udp", "echo", "127.0.0.1:9", "x", "--timeout", value, "--retries", "0"],
            ]
        } + [
            ["udp", "echo", "127.0.0.1:9", "x", "--retries", "-1"],
            ["udp", "echo", "127.0.0.1:9", "x", "--retries", "99999999999999999999"],
            ["hello", "127.0.0.1:9", "--token-file", tokenFile, "--count", "0"],
        ]
    }

    /// A throwaway identity: with `--print-fingerprint`, a `serve` that got past its options prints and exits
    /// instead of serving.
    private static let identityFile = NSTemporaryDirectory() + "porter-numbers-identity-\(UUID().uuidString)"

    private static var server: [[String]] {
        let options =
            ["inf", "nan", "1e300", "-1"].flatMap { value in
                [
                    ["--idle-timeout", value], ["--auth-timeout", value], ["--classic-idle-timeout", value],
                    ["--http-head-timeout", value], ["--shutdown-grace", value],
                ]
            } + [
                ["--front-door-max-per-source", "0"],
                ["--front-door-max-per-source", "9223372036854775807"],
                ["--auth-timeout", "0"],
                ["--max-connections", "0"],
                ["--max-connections", "9223372036854775807"],
                ["--max-unauthenticated", "-5"],
                ["--max-unauthenticated-per-source", "9223372036854775807"],
            ]
        return options.map { ["serve", "--identity", identityFile, "--print-fingerprint"] + $0 }
    }

    @Test(arguments: client + server)
    func anAbsurdNumberIsAUsageError(arguments: [String]) async throws {
        let run = try await TestProcess.run([TestProcess.porter] + arguments)
        #expect(run.status == 64, "\(arguments): \(run.errors)")
        #expect(run.errors.hasPrefix("Error: "))
        // A negative number is read as the option's value and refused as out of range, not taken for an option.
        #expect(!run.errors.contains("Missing value"), "\(arguments): \(run.errors)")
        #expect(!run.errors.contains("Backtrace") && !run.errors.contains("Fatal error"))
    }

    /// The range an option names says what its 0 means: a timeout that is off, or no grace period at all.
    @Test func theRangeSaysWhatZeroMeans() async throws {
        for (option, zero) in [("--idle-timeout", "0 (never)"), ("--shutdown-grace", "0 (none)")] {
            let run = try await TestProcess.run([
                TestProcess.porter, "serve", option, "1e19", "--identity", Self.identityFile, "--print-fingerprint",
            ])
            #expect(run.status == 64)
            #expect(run.errors.contains("give a number of seconds from \(zero) to 31536000"), "\(run.errors)")
        }
    }

    @Test func zeroIdleTimeoutStillMeansNever() async throws {
        let run = try await TestProcess.run([
            TestProcess.porter, "serve", "--idle-timeout", "0", "--auth-timeout", "0.5", "--identity",
            Self.identityFile, "--print-fingerprint",
        ])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.hasPrefix("SHA256:"))
    }
}
