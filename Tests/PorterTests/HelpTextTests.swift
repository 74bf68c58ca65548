import Foundation
import Testing

/// Help is written as sentences that the argument parser wraps: no line of it may end where the next word would
/// still have fitted, which is what a line break typed into a help string looks like once it is wrapped again.
@Suite(.timeLimit(.minutes(3))) struct HelpTextTests {
    /// The width the parser wraps to when standard output is not a terminal: lines hold at most one less.
    private static let width = 80

    @Test(arguments: [
        ["serve"], ["hello"], ["echo"], ["exec"], ["shell"], ["get"], ["put"], ["ls"], ["chat"], ["udp", "echo"],
        ["udp", "chat"], ["completions"],
    ])
    func helpIsNotHardWrapped(command: [String]) async throws {
        let help = try await TestProcess.run([TestProcess.porter] + command + ["--help"])
        #expect(help.status == 0)
        let lines = help.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (line, next) in zip(lines, lines.dropFirst()) {
            let indent = line.prefix(while: { $0 == " " }).count
            // Only a continuation of the same paragraph: same indentation, both holding text.
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty,
                next.prefix(while: { $0 == " " }).count == indent,
                let word = next.split(separator: " ").first,
                !line.hasPrefix("USAGE:"), !line.hasSuffix(":"),
                // The next entry of a list of arguments or options, not a continuation.
                !["-", "<"].contains(where: { next.trimmingCharacters(in: .whitespaces).hasPrefix($0) })
            else { continue }
            #expect(
                line.count + 1 + word.count >= Self.width,
                "porter \(command.joined(separator: " ")) --help breaks a sentence after: \(line)")
        }
    }

    @Test func serveHelpSaysTheUnauthenticatedLimitsMakeConnectionsWait() async throws {
        let help = try await TestProcess.run([TestProcess.porter, "serve", "--help"])
        let text = help.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("more wait, unread, for a free slot"))
        #expect(!text.contains("Connections waiting to authenticate, in total; more are refused"))
    }
}
