import ArgumentParser
import NIOCore
import Porter

extension PorterCommand {
    /// `porter echo`: the course's upper-case echo.
    struct Echo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "echo",
            abstract: "Send text and print the server's upper-cased answer.",
            discussion: """
                With MESSAGE words, sends them as one message joined by spaces. Without, sends standard input line \
                by line and prints each answer as it arrives.
                """
        )

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "The message; standard input line by line when absent.")
        var message: [String] = []

        func run() async throws {
            let words = message
            let events = connection.output.events
            let replies = try await connection.withConnection { connection in
                let echo = try await connection.echo()
                let sender = echo.sender
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            if words.isEmpty {
                                var input = StandardInput()
                                while let line = try await input.nextLine() {
                                    try await sender.send(ByteBuffer(bytes: line))
                                }
                            } else {
                                try await sender.send(ByteBuffer(string: words.joined(separator: " ")))
                            }
                            try await sender.finish()
                        } catch {
                            sender.abort()
                            throw error
                        }
                    }
                    var replies = 0
                    do {
                        while let answer = try await echo.receive() {
                            events.report(UTF8Chunker.piece(answer.readableBytesView).event("reply")) {
                                Terminal.line(bytes: answer.readableBytesView)
                            }
                            replies += 1
                        }
                    } catch {
                        // If sending failed first, its error says why the answers stopped.
                        try await group.waitForAll()
                        throw error
                    }
                    try await group.waitForAll()
                    return replies
                }
            }
            events.done([("replies", .integer(replies))])
        }
    }
}
