import ArgumentParser
import Foundation
import NIOCore
import Porter

extension Load {
    /// Clients that start something and then stop reading, for the server's memory per stalled stream.
    struct Stall: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stall",
            abstract: "Open connections that stop reading: `exec yes` never read, or echo sent and never read.",
            discussion: """
                Prints {"stalled": N} once every connection has started and has had time to fill what the server \
                and the sockets will buffer, then holds them for --seconds.
                """)

        enum Mode: String, ExpressibleByArgument, CaseIterable {
            case exec, echo
        }

        @OptionGroup var server: ServerOptions
        @Option var mode: Mode = .exec
        @Option var clients = 20
        @Option(help: "Bytes per echo data frame (at most the server's data frame limit).") var frameSize = 1 << 20
        @Option(help: "Seconds to hold the stalled connections.") var seconds: Double = 60

        func run() async throws {
            let client = try server.client()
            let endpoint = server.endpoint
            let hold = Duration.seconds(seconds)
            let (started, signal) = AsyncStream.makeStream(of: Void.self)
            let frame = ByteBuffer(repeating: UInt8(ascii: "y"), count: frameSize)
            // Every connection is set up before any of them floods the machine.
            let go = Gate()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<clients {
                    group.addTask { [mode] in
                        try await PorterClient.withConnection(to: endpoint, configuration: client) { connection in
                            switch mode {
                            case .exec:
                                // Started, and never read: the output piles up wherever the server lets it.
                                let session = try await connection.exec(
                                    ["yes"], options: ExecOptions(standardInput: false))
                                signal.yield()
                                try await Task.sleep(for: hold)
                                withExtendedLifetime(session) {}
                            case .echo:
                                let echo = try await connection.echo()
                                let sender = echo.sender
                                signal.yield()
                                await go.wait()
                                // Sends until the server stops reading, then waits there; answers are never taken.
                                while true { try await sender.send(frame) }
                            }
                        }
                    }
                }
                var count = 0
                for await _ in started {
                    count += 1
                    if count == clients { break }
                }
                go.open()
                try emit(["stalled": count])
                // The connections are held until the time is up; then the process ends, and they with it.
                try await Task.sleep(for: hold)
                Foundation.exit(0)
            }
        }
    }
}
