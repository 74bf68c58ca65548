import ArgumentParser
import NIOCore
import NIOPosix
import Porter
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#endif

extension PorterCommand {
    /// `porter udp`: the datagram tools, which need no server connection.
    struct UDP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "udp",
            abstract: "UDP tools: an echo client that survives lost datagrams, and a peer-to-peer contact chat.",
            subcommands: [Echo.self, Chat.self]
        )
    }
}

extension PorterCommand.UDP {
    /// `porter udp echo`: send datagrams, print the upper-cased answers.
    struct Echo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "echo",
            abstract: "Send each MESSAGE as a datagram to a UDP echo service and print the answers.",
            discussion: """
                Works with `porter serve --udp` and with any UDP echo. Each try waits --timeout seconds; a lost \
                datagram is sent again up to --retries times; an answer to an earlier message is never taken \
                for the current one. A message may have at most \(UDPEchoDatagram.maxPayload) bytes; an answer \
                that is not as long as its message (cut by the service) is not taken. Exits 1 with one line if \
                no whole answer comes back.
                """
        )

        @Argument(help: "HOST:PORT of the echo service.") var endpoint: String
        @Argument(help: "The messages, one datagram each.") var messages: [String]
        /// The default of `--timeout`.
        static let defaultTimeout: Seconds = 1

        @Option(
            parsing: .unconditional, help: Seconds.help("Seconds to wait for each try.", default: Self.defaultTimeout),
            transform: Seconds.parse)
        var timeout = Self.defaultTimeout
        @Option(parsing: .unconditional, help: "Tries after the first.") var retries: Int = 3
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (0...100).contains(retries) else { throw ValidationError("--retries must be from 0 to 100") }
            guard !messages.isEmpty else { throw ValidationError("give at least one MESSAGE") }
        }

        func run() async throws {
            let events = output.events
            do {
                guard case .tcp(let host, let port) = try Endpoint(parsing: endpoint) else {
                    throw PorterError(.configuration, "UDP needs HOST:PORT, not a unix socket")
                }
                let client = UDPEchoClient(timeout: timeout.value, retries: retries)
                let replies = try await client.send(messages.map { Array($0.utf8) }, to: host, port: port)
                for reply in replies {
                    let piece = UTF8Chunker.piece(reply.payload)
                    let event = JSONEvent(
                        "reply",
                        [
                            "data": .string(piece.data), "encoding": .string(piece.encoding),
                            "tries": .integer(reply.tries), "milliseconds": .milliseconds(reply.roundTrip),
                            "ignored": .integer(reply.ignored),
                        ])
                    events.report(event) {
                        Terminal.line(TerminalText.escaped(String(decoding: reply.payload, as: UTF8.self)))
                    }
                }
                events.done([("replies", .integer(replies.count))])
            } catch let error as PorterError {
                throw events.failure(error, otherwise: 1)
            } catch {
                throw events.failure(ErrorText.describe(error), kind: "internal", exitStatus: 1)
            }
        }
    }

    /// `porter udp chat`: the course's "QQ" address-book chat, full duplex.
    struct Chat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "chat",
            abstract: "Chat with contacts over UDP: `@name text` sends, received datagrams print as `name: text`.",
            discussion: """
                The contacts file holds one `NAME HOST:PORT` per line (`ann 127.0.0.1:9001`), with `#` comments; \
                a mistake is reported as FILE:LINE. A datagram from an address not in it prints as \
                `HOST:PORT: text`; answer it with `@HOST:PORT text`. \
                Commands: /contacts, /quit (or end of input). Receiving never waits for typing.
                """
        )

        @Option(help: "HOST:PORT to receive on.") var listen: String
        @Option(help: "Your name, shown when the chat starts.") var name: String
        @Option(help: "The contacts file.", completion: .file()) var contacts: String?
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let events = output.events
            do {
                try await chat(events: events)
                events.done()
            } catch let error as PorterError {
                throw events.failure(error, otherwise: 1)
            } catch {
                throw events.failure(ErrorText.describe(error), kind: "internal", exitStatus: 1)
            }
        }

        private func chat(events: EventOutput) async throws {
            let book = try loadContacts()
            guard case .tcp(let host, let port) = try Endpoint(parsing: listen) else {
                throw PorterError(.configuration, "--listen needs HOST:PORT")
            }
            let addresses = try await NIOThreadPool.singleton.runIfActive {
                try book.contacts.map { contact in
                    (contact.name, try SocketAddress.makeAddressResolvingHost(contact.host, port: contact.port))
                }
            }
            let names = Dictionary(addresses.map { (Self.key($0.1), $0.0) }, uniquingKeysWith: { first, _ in first })
            let channel: NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>
            do {
                channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelOption(.recvAllocator, value: UDPEchoDatagram.receiveAllocator)
                    .bind(host: host, port: port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try NIOAsyncChannel(wrappingChannelSynchronously: channel)
                        }
                    }
            } catch {
                throw PorterError(.configuration, "cannot listen on \(listen): \(ErrorText.describe(error))")
            }
            let bound = channel.channel.localAddress.map(Self.key) ?? listen
            let listening = JSONEvent(
                "listening",
                ["name": .string(name), "address": .string(bound), "contacts": .integer(book.contacts.count)])
            events.report(listening) {
                Terminal.error(
                    "\(TerminalText.escaped(name)) on udp \(bound), \(book.contacts.count) contacts; @name text sends, /quit leaves"
                )
            }
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await envelope in inbound {
                            let address = Self.key(envelope.remoteAddress)
                            let sender = names[address] ?? address
                            guard !UDPEchoDatagram.isOversized(envelope.data) else {
                                events.warning(
                                    "dropped a datagram from \(sender): over \(UDPEchoDatagram.maxLength) bytes, the most a message may have"
                                )
                                continue
                            }
                            var bytes = envelope.data.readableBytesView
                            if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
                            let piece = UTF8Chunker.piece(bytes)
                            let event = JSONEvent(
                                "message",
                                [
                                    "from": names[address].map(JSONValue.string), "address": .string(address),
                                    "data": .string(piece.data), "encoding": .string(piece.encoding),
                                ])
                            events.report(event) {
                                var text = String(decoding: envelope.data.readableBytesView, as: UTF8.self)
                                if text.hasSuffix("\n") { text.removeLast() }
                                Terminal.line("\(sender): \(TerminalText.escaped(text))")
                            }
                        }
                    }
                    var input = StandardInput()
                    while let bytes = try await input.nextLine() {
                        let line = String(decoding: bytes, as: UTF8.self)
                        if line == "/quit" { break }
                        if line == "/contacts" {
                            for contact in book.contacts {
                                let event = JSONEvent(
                                    "contact",
                                    [
                                        "name": .string(contact.name),
                                        "address": .string("\(contact.host):\(contact.port)"),
                                    ])
                                events.report(event) {
                                    Terminal.error("\(contact.name) \(contact.host):\(contact.port)")
                                }
                            }
                            continue
                        }
                        do {
                            let (address, text) = try await Self.parse(line, addresses: addresses)
                            try await outbound.write(
                                AddressedEnvelope(remoteAddress: address, data: ByteBuffer(string: text)))
                        } catch let error as PorterError {
                            events.warning(error.message)
                        }
                    }
                    group.cancelAll()
                }
            }
        }

        private func loadContacts() throws -> Contacts {
            guard let contacts else { return Contacts() }
            return try Contacts.load(at: contacts)
        }

        /// The recipient and text of a line `@NAME text` or `@HOST:PORT text`.
        private static func parse(_ line: String, addresses: [(String, SocketAddress)]) async throws
            -> (SocketAddress, String)
        {
            guard line.hasPrefix("@"), let space = line.firstIndex(of: " ") else {
                throw PorterError(.configuration, "write @name text (or @host:port text); /contacts lists names")
            }
            let target = String(line[line.index(after: line.startIndex)..<space])
            let text = String(line[line.index(after: space)...])
            guard text.utf8.count <= UDPEchoDatagram.maxLength else {
                throw PorterError(.configuration, "a message may have at most \(UDPEchoDatagram.maxLength) bytes")
            }
            if let known = addresses.first(where: { $0.0 == target }) { return (known.1, text) }
            guard target.contains(":"), case .tcp(let host, let port) = try Endpoint(parsing: target, defaultPort: 0),
                port > 0
            else { throw PorterError(.configuration, "no contact called \(TerminalText.escaped(target))") }
            let address = try await NIOThreadPool.singleton.runIfActive {
                try SocketAddress.makeAddressResolvingHost(host, port: port)
            }
            return (address, text)
        }

        /// `HOST:PORT` of an address, `[v6]:PORT` for IPv6.
        private static func key(_ address: SocketAddress) -> String {
            let host = address.ipAddress ?? "?"
            let port = address.port ?? 0
            return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}
