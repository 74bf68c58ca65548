import Foundation
import NIOCore
import NIOPosix
import Porter
import PorterProtocol
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `porter udp echo` against lossy and confusing servers, the server's UDP echo, and contacts files.
@Suite(.timeLimit(.minutes(3))) struct UDPTests {
    /// Runs a UDP server whose handler decides, for the n-th datagram, what to send back (nothing, or several).
    private func withUDPServer<Result: Sendable>(
        answer: @escaping @Sendable (_ index: Int, _ datagram: ByteBuffer) -> [ByteBuffer],
        _ body: (Int) async throws -> Result
    ) async throws -> Result {
        let channel = try await loopbackDatagramChannel()
        let port = channel.channel.localAddress?.port ?? 0
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    var index = 0
                    for try await envelope in inbound {
                        for reply in answer(index, envelope.data) {
                            try await outbound.write(
                                AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: reply))
                        }
                        index += 1
                    }
                }
            }
            defer { group.cancelAll() }
            return try await body(port)
        }
    }

    @Test func aLostDatagramIsSentAgain() async throws {
        let answer: @Sendable (Int, ByteBuffer) -> [ByteBuffer] = { index, datagram in
            index == 0 ? [] : [UDPEchoDatagram.reply(to: datagram)!]
        }
        try await withUDPServer(answer: answer) { port in
            // Each try waits long enough for a loaded machine; only the first one is dropped.
            let replies = try await UDPEchoClient(timeout: 3 * testSlowdown, retries: 3).send(
                [Array("hello".utf8)], to: "127.0.0.1", port: port)
            #expect(replies.count == 1)
            #expect(replies[0].payload == Array("HELLO".utf8))
            // The first try was dropped; on a loaded machine a slow answer may take one more.
            #expect(replies[0].tries >= 2)
        }
    }

    /// Before each real answer the server sends an answer to an earlier message (as a late, delayed reply
    /// would arrive), and garbage: the client takes neither.
    @Test func aLateReplyToAnEarlierMessageIsNotTakenForTheCurrentOne() async throws {
        let answer: @Sendable (Int, ByteBuffer) -> [ByteBuffer] = { _, datagram in
            guard let (id, _) = UDPEchoDatagram.parseReply(datagram) else { return [] }
            return [
                UDPEchoDatagram.request(id: id &- 1, payload: Array("STALE".utf8)),
                ByteBuffer(string: "noise"),
                UDPEchoDatagram.reply(to: datagram)!,
            ]
        }
        try await withUDPServer(answer: answer) { port in
            // One try, so that the count of ignored datagrams is exact; it waits as long as a loaded machine needs.
            let replies = try await UDPEchoClient(timeout: 30 * testSlowdown, retries: 0).send(
                [Array("one".utf8), Array("two".utf8)], to: "127.0.0.1", port: port)
            #expect(replies.map { String(decoding: $0.payload, as: UTF8.self) } == ["ONE", "TWO"])
            #expect(replies[1].ignored == 2)
        }
    }

    @Test func silenceEndsInAClearErrorAndOversizedMessagesAreNotSent() async throws {
        let count = Atomic<Int>(0)
        let answer: @Sendable (Int, ByteBuffer) -> [ByteBuffer] = { _, _ in
            count.add(1, ordering: .relaxed)
            return []
        }
        try await withUDPServer(answer: answer) { port in
            do {
                _ = try await UDPEchoClient(timeout: 0.1, retries: 2).send(
                    [Array("x".utf8)], to: "127.0.0.1", port: port)
                Issue.record("silence was taken for an answer")
            } catch let error as PorterError {
                #expect(error.message.contains("no answer from 127.0.0.1:\(port) after 3 tries"))
            }
            // Each try reached the server (it may read them a moment after the client gave up).
            try await waitUntil { count.load(ordering: .relaxed) == 3 }
            let big = [UInt8](repeating: 0x61, count: UDPEchoDatagram.maxPayload + 1)
            await #expect(throws: PorterError.self) {
                _ = try await UDPEchoClient().send([big], to: "127.0.0.1", port: port)
            }
            #expect(count.load(ordering: .relaxed) == 3)
        }
    }

    @Test func theServerAnswersPorterAndPlainDatagrams() async throws {
        let configure: (inout ServerConfiguration) -> Void = { $0.udp = .tcp(host: "127.0.0.1", port: 0) }
        try await withTestServer(configure: configure) { server in
            let port = try server.port(of: "udp echo")
            // A try's wait is long enough for a busy machine: on a lossless loopback one try must do.
            let replies = try await UDPEchoClient(timeout: 5 * testSlowdown).send(
                [Array("héllo, udp".utf8)], to: "127.0.0.1", port: port)
            #expect(replies.first?.payload == Array("HéLLO, UDP".utf8))
            #expect(replies.first?.tries == 1)
            // A datagram without Porter's header, as the course's client sends, is upper-cased whole.
            let plain = try await exchangeDatagrams([ByteBuffer(string: "plain text")], port: port)
            #expect(plain == ByteBuffer(string: "PLAIN TEXT"))
        }
    }

    /// Datagrams up to the limit come back whole, from the native UDP echo and the classic one; larger ones are
    /// dropped, never answered cut (they used to be read into 2048 bytes and answered with those).
    @Test func wholeDatagramsUpToTheLimitAndNoneAboveIt() async throws {
        let configure: (inout ServerConfiguration) -> Void = {
            $0.udp = .tcp(host: "127.0.0.1", port: 0)
            $0.classic = .anyPorts()
        }
        try await withTestServer(configure: configure) { server in
            let port = try server.port(of: "udp echo")
            let messages = [3000, UDPEchoDatagram.maxPayload].map { [UInt8](repeating: 0x61, count: $0) }
            let replies = try await UDPEchoClient(timeout: 5 * testSlowdown).send(messages, to: "127.0.0.1", port: port)
            #expect(replies.map(\.payload.count) == [3000, UDPEchoDatagram.maxPayload])
            #expect(replies.allSatisfy { $0.payload.allSatisfy { $0 == 0x41 } })
            for door in ["udp echo", "classic udp echo"] {
                let port = try server.port(of: door)
                let largest = ByteBuffer(repeating: 0x62, count: UDPEchoDatagram.maxLength)
                #expect(try await exchangeDatagrams([largest], port: port) == ByteBuffer(repeating: 0x42, count: 8192))
                // Over the limit by one byte, and by far: no answer to either; the next datagram is answered first.
                let over = [UDPEchoDatagram.maxLength + 1, 9000].map { ByteBuffer(repeating: 0x63, count: $0) }
                let answer = try await exchangeDatagrams(over + [ByteBuffer(string: "ping")], port: port)
                #expect(answer == ByteBuffer(string: "PING"), "\(door): \(answer?.readableBytes ?? 0) bytes")
            }
        }
    }

    /// A reply that is not as long as its request (a service that cut it) or is over the limit is not an answer.
    @Test func aCutOrOversizedReplyIsNotTakenForAnAnswer() async throws {
        let message = [UInt8](repeating: 0x61, count: 1000)
        let cut: @Sendable (Int, ByteBuffer) -> [ByteBuffer] = { _, datagram in
            var reply = UDPEchoDatagram.reply(to: datagram)!
            return [reply.readSlice(length: 500)!]
        }
        try await withUDPServer(answer: cut) { port in
            do {
                // A datagram lost on a loaded host gets another try; the first cut reply ends the exchange.
                let replies = try await UDPEchoClient(timeout: 5 * testSlowdown, retries: 3).send(
                    [message], to: "127.0.0.1", port: port)
                Issue.record("a cut reply of \(replies.first?.payload.count ?? 0) bytes was taken for the answer")
            } catch let error as PorterError {
                #expect(error.message.contains("answered a 1012-byte datagram with 500 bytes"), "\(error.message)")
            }
        }
        let oversized: @Sendable (Int, ByteBuffer) -> [ByteBuffer] = { _, datagram in
            var reply = UDPEchoDatagram.reply(to: datagram)!
            reply.writeRepeatingByte(0x41, count: 9000 - reply.readableBytes)
            return [reply]
        }
        try await withUDPServer(answer: oversized) { port in
            do {
                // However late the oversized reply comes, it is not the answer: the client ends without one.
                let replies = try await UDPEchoClient(timeout: 0.5, retries: 1).send(
                    [message], to: "127.0.0.1", port: port)
                Issue.record(
                    "an oversized reply of \(replies.first?.payload.count ?? 0) bytes was taken for the answer")
            } catch let error as PorterError {
                #expect(error.message.contains("no answer from 127.0.0.1:\(port) after 2 tries"), "\(error.message)")
            }
        }
    }

    /// Sends `datagrams` in turn to `port` on loopback and returns the first answer.
    private func exchangeDatagrams(_ datagrams: [ByteBuffer], port: Int) async throws -> ByteBuffer? {
        let channel = try await loopbackDatagramChannel()
        return try await channel.executeThenClose { inbound, outbound in
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
            for datagram in datagrams {
                try await outbound.write(AddressedEnvelope(remoteAddress: address, data: datagram))
            }
            for try await envelope in inbound { return envelope.data }
            return nil
        }
    }

    @Test func contactsFilesHoldOneNameAndAddressPerLine() throws {
        let text = """
            # friends
            ann 127.0.0.1:9001
            bob [::1]:9002   # a comment after the address

            cy\tlocalhost:9003\r

            """
        let contacts = try Contacts(parsing: text, file: "c.txt")
        #expect(contacts.contacts.map(\.name) == ["ann", "bob", "cy"])
        #expect(contacts.contact(named: "bob") == .init(name: "bob", host: "::1", port: 9002))
        #expect(contacts.contact(named: "cy")?.host == "localhost")
        let bad: [(String, String)] = [
            ("ann 127.0.0.1:9001\nbob\n", "c.txt:2: expected NAME HOST:PORT, got 1 words"),
            ("ann 127.0.0.1\n", "c.txt:1: expected HOST:PORT with a port"),
            ("ann 127.0.0.1:1 extra\n", "c.txt:1: expected NAME HOST:PORT, got 3 words"),
            ("ann 127.0.0.1:1\nann 127.0.0.1:2\n", "c.txt:2: the name ann is already used above"),
            ("a/b 127.0.0.1:1\n", "c.txt:1: contact name"),
            // The TOML form it once took is refused, saying the form to use.
            (
                "# old\nalice = \"127.0.0.1:9001\"\n",
                "c.txt:2: write NAME HOST:PORT, as `alice 127.0.0.1:9001`; the TOML form"
            ),
            ("alice=\"127.0.0.1:9001\"\n", "c.txt:1: write NAME HOST:PORT, as `alice 127.0.0.1:9001`"),
            ("[contacts]\nann 127.0.0.1:1\n", "c.txt:1: '[contacts]' is a TOML table"),
        ]
        for (text, message) in bad {
            let error = #expect(throws: PorterError.self) { try Contacts(parsing: text, file: "c.txt") }
            #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "accepted \(text)")")
        }
    }

    @Test func aMissingContactsFileIsNamed() throws {
        #expect(throws: PorterError(.configuration, "the contacts file /nonexistent/contacts does not exist")) {
            try Contacts.load(at: "/nonexistent/contacts")
        }
    }
}

/// `porter udp chat` as a process: what arrives is shown with the sender's contact name (or address), escaped;
/// `@name text` and `@host:port text` send.
@Suite(.timeLimit(.minutes(3))) struct UDPChatCommandTests {
    @Test func datagramsArePrintedByNameAndSentByName() async throws {
        try await withTemporaryDirectory { base in
            // A peer socket the test controls.
            let peer = try await loopbackDatagramChannel()
            // The whole exchange runs inside executeThenClose, which must finish the channel whatever fails.
            try await peer.executeThenClose { inbound, outbound in
                let peerPort = peer.channel.localAddress?.port ?? 0
                try "# the course's address book\nbob 127.0.0.1:\(peerPort)\n".write(
                    toFile: base + "/contacts", atomically: false, encoding: .utf8)
                mkfifo(base + "/input", 0o600)
                // Opened read-write first, so that neither end's open waits for the other (posix_spawn returns only
                // once the child has opened its standard input).
                let input = open(base + "/input", O_RDWR | O_CLOEXEC)
                let chat = try TestProcess.start(
                    [
                        TestProcess.porter, "udp", "chat", "--listen", "127.0.0.1:0", "--name", "ann", "--contacts",
                        base + "/contacts",
                    ], input: base + "/input", output: base + "/output", errors: base + "/errors")
                defer {
                    close(input)
                    chat.signal(SIGKILL)
                    _ = try? awaitExit(chat)
                }
                let chatPort = try await waitForPort(in: base + "/errors")
                let chatAddress = try SocketAddress(ipAddress: "127.0.0.1", port: chatPort)
                try await outbound.write(
                    AddressedEnvelope(remoteAddress: chatAddress, data: ByteBuffer(string: "hi ann\u{1B}[2J\n")))
                try await waitUntil(seconds: 20) {
                    (try? String(contentsOfFile: base + "/output", encoding: .utf8))?.contains("bob: hi ann\\x1B[2J\n")
                        == true
                }
                // Typing: by contact name, and by address.
                _ = "@bob hello bob\n@127.0.0.1:\(peerPort) by address\n".withCString { write(input, $0, strlen($0)) }
                var received: [String] = []
                for try await envelope in inbound {
                    received.append(String(buffer: envelope.data))
                    if received.count == 2 { break }
                }
                #expect(received == ["hello bob", "by address"])
                // A datagram within the limit is shown whole; one over it is dropped with a line saying so.
                let long = String(repeating: "x", count: 3000)
                for text in [long, String(repeating: "y", count: 9000)] {
                    try await outbound.write(
                        AddressedEnvelope(remoteAddress: chatAddress, data: ByteBuffer(string: text)))
                }
                try await waitUntil(seconds: 20) {
                    (try? String(contentsOfFile: base + "/errors", encoding: .utf8))?.contains(
                        "dropped a datagram from bob: over 8192 bytes") == true
                }
                let output = try String(contentsOfFile: base + "/output", encoding: .utf8)
                #expect(output.contains("bob: \(long)\n"))
                #expect(!output.contains("yyy"))
            }
        }
    }

    @Test func aContactsFileMistakeIsOneLineNamingFileAndLine() async throws {
        try await withTemporaryDirectory { base in
            let file = base + "/contacts"
            try "# friends\nalice = \"127.0.0.1:9001\"\n".write(toFile: file, atomically: false, encoding: .utf8)
            let chat = [TestProcess.porter, "udp", "chat", "--listen", "127.0.0.1:0", "--name", "ann", "--contacts"]
            let toml = try await TestProcess.run(chat + [file])
            #expect(toml.status == 1)
            #expect(
                toml.errors
                    == "porter: \(file):2: write NAME HOST:PORT, as `alice 127.0.0.1:9001`; the TOML form NAME = \"HOST:PORT\" is not read\n"
            )
            let missing = try await TestProcess.run(chat + [base + "/none"])
            #expect(missing.status == 1 && missing.errors == "porter: the contacts file \(base)/none does not exist\n")
        }
    }

    /// The port `porter udp chat` reports on standard error when it starts.
    private func waitForPort(in file: String) async throws -> Int {
        let port = { @Sendable () -> Int? in
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                let range = text.range(of: "on udp 127.0.0.1:")
            else { return nil }
            return Int(text[range.upperBound...].prefix(while: \.isNumber))
        }
        try await waitUntil(seconds: 20) { port() != nil }
        return port() ?? 0
    }

    private func awaitExit(_ process: TestProcess) throws {
        var status: Int32 = 0
        waitpid(process.pid, &status, 0)
    }
}

/// A UDP socket on 127.0.0.1 and a free port, as an async channel; it receives datagrams of up to 64 KiB whole.
private func loopbackDatagramChannel() async throws
    -> NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>
{
    try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65536))
        .bind(host: "127.0.0.1", port: 0) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(
                    wrappingChannelSynchronously: channel)
            }
        }
}
