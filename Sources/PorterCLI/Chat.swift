import ArgumentParser
import Porter
import PorterProtocol

extension PorterCommand {
    /// `porter chat`: a chat room.
    struct Chat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "chat",
            abstract: "Chat in a room: lines typed are sent, lines from others are printed as `name: text`.",
            discussion: """
                Commands: /who lists the members, /nick NAME changes your name, /msg NAME TEXT sends privately, \
                /quit leaves (as does end of input). Works with standard input from a pipe or file.
                """
        )

        @OptionGroup var connection: ConnectionOptions

        @Option(help: "Your name in the room: letters, digits, '_', '-', '.' (at most 32).")
        var name: String

        @Option(help: "The room to join.")
        var room: String = ChatName.defaultRoom

        func validate() throws {
            if let problem = ChatName.problem(with: name) { throw ValidationError("--name: \(problem.message)") }
            if let problem = ChatName.problem(with: room, what: "room name") {
                throw ValidationError("--room: \(problem.message)")
            }
        }

        func run() async throws {
            let events = connection.output.events
            try await connection.withConnection { connection in
                let chat = try await connection.joinChat(room: room, name: name)
                let joined = JSONEvent(
                    "joined",
                    [
                        "room": .string(chat.room), "name": .string(chat.name),
                        "members": .array(chat.members.map(JSONValue.string)),
                    ])
                events.report(joined) {
                    Terminal.line(
                        "* joined \(chat.room) as \(chat.name); here: \(chat.members.joined(separator: ", "))")
                }
                let sender = chat.sender
                // Not a child task: a read of standard input cannot be cancelled, and a membership the server
                // ends (the member removed as slow, the server shutting down) must end the command at once, not
                // once the person types another line. A failed send ends the membership too, which the events
                // then report.
                let typing = Task { try await Self.forwardInput(to: sender, events: events) }
                defer { typing.cancel() }
                while let event = try await chat.nextEvent() {
                    events.report(Self.event(event)) { Terminal.line(Self.describe(event)) }
                }
            }
            events.done()
        }

        /// Sends typed lines and commands until `/quit` or end of input, then leaves.
        private static func forwardInput(to sender: ChatSender, events: EventOutput) async throws {
            var input = StandardInput()
            while let bytes = try await input.nextLine() {
                let line = String(decoding: bytes, as: UTF8.self)
                switch ChatInput(line) {
                case .say(let text): try await sender.say(text)
                case .privateMessage(let to, let text): try await sender.sendPrivate(to: to, text)
                case .rename(let name): try await sender.rename(to: name)
                case .who: try await sender.requestMembers()
                case .quit: break
                case .usage(let text):
                    events.report(JSONEvent("warning", ["message": .string(text)])) { Terminal.line("! \(text)") }
                case .nothing: continue
                }
                if case .quit = ChatInput(line) { break }
            }
            try await sender.leave()
        }

        /// The event a script is told of `event`.
        private static func event(_ event: ChatSession.Event) -> JSONEvent {
            switch event {
            case .chat(.message(let from, let text, let isPrivate)):
                JSONEvent("message", ["from": .string(from), "text": .string(text), "private": .bool(isPrivate)])
            case .chat(.joined(let name)): JSONEvent("join", ["name": .string(name)])
            case .chat(.left(let name)): JSONEvent("leave", ["name": .string(name)])
            case .chat(.renamed(let from, let to)): JSONEvent("rename", ["from": .string(from), "to": .string(to)])
            case .chat(.members(let room, let names)):
                JSONEvent("members", ["room": .string(room), "names": .array(names.map(JSONValue.string))])
            case .refused(let message): JSONEvent("refused", ["message": .string(message)])
            }
        }

        private static func describe(_ event: ChatSession.Event) -> String {
            let safe = TerminalText.escaped
            switch event {
            case .chat(.message(let from, let text, false)): return "\(safe(from)): \(safe(text))"
            case .chat(.message(let from, let text, true)): return "\(safe(from)) (private): \(safe(text))"
            case .chat(.joined(let name)): return "* \(safe(name)) joined"
            case .chat(.left(let name)): return "* \(safe(name)) left"
            case .chat(.renamed(let from, let to)): return "* \(safe(from)) is now \(safe(to))"
            case .chat(.members(let room, let names)):
                return "* in \(safe(room)): \(names.map(safe).joined(separator: ", "))"
            case .refused(let message): return "! \(safe(message))"
            }
        }
    }
}
