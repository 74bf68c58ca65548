import NIOCore
import NIOPosix
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// Sends messages to a UDP echo service and waits for their answers, retrying when a datagram is lost.
///
/// Each try carries a fresh request id; only a reply to a try of the current message counts, so a late reply to
/// an earlier message is never taken for the current one. A reply must be as long as its request: one over
/// ``UDPEchoDatagram/maxLength`` is ignored, and one that was cut (a service that reads datagrams into too small a
/// buffer) fails the message at once, since every try would be cut the same way.
public struct UDPEchoClient: Sendable {
    /// Seconds to wait for a reply to each try.
    public var timeout: Double
    /// Tries after the first.
    public var retries: Int

    /// The answer to one message.
    public struct Reply: Sendable {
        /// The upper-cased payload.
        public var payload: [UInt8]
        /// How many datagrams were sent for it.
        public var tries: Int
        /// Time from the first try to the reply.
        public var roundTrip: Duration
        /// Replies to earlier messages that arrived while waiting, and were ignored.
        public var ignored: Int
    }

    /// Creates a client.
    public init(timeout: Double = 1, retries: Int = 3) {
        self.timeout = timeout
        self.retries = retries
    }

    /// Sends each of `messages` in turn to `host:port` and returns their answers.
    ///
    /// - Throws: ``PorterError`` if a message is over the size limit (before anything is sent), the host cannot
    ///   be resolved, an answer comes back cut, or no answer comes back after every try.
    public func send(_ messages: [[UInt8]], to host: String, port: Int) async throws -> [Reply] {
        for message in messages where message.count > UDPEchoDatagram.maxPayload {
            throw PorterError(
                .configuration,
                "a message of \(message.count) bytes is over the UDP echo limit of \(UDPEchoDatagram.maxPayload) bytes")
        }
        let client = self
        return try await NIOThreadPool.singleton.runIfActive {
            let socket = try UDPSocket(host: host, port: port)
            var replies: [Reply] = []
            var nextID = UInt64.random(in: 0...(UInt64.max / 2))
            for message in messages {
                replies.append(try client.exchange(message, over: socket, ids: &nextID, shown: "\(host):\(port)"))
            }
            return replies
        }
    }

    private func exchange(_ message: [UInt8], over socket: UDPSocket, ids: inout UInt64, shown: String) throws
        -> Reply
    {
        let clock = ContinuousClock()
        let started = clock.now
        let firstID = ids
        var ignored = 0
        var refused = false
        for attempt in 0...retries {
            let id = ids
            ids += 1
            try socket.send(UDPEchoDatagram.request(id: id, payload: message))
            let deadline = clock.now + TimeLimit.duration(seconds: timeout)
            while let (datagram, size) = try socket.receive(until: deadline, refused: &refused) {
                guard size <= UDPEchoDatagram.maxLength, let (replyID, payload) = UDPEchoDatagram.parseReply(datagram)
                else {
                    ignored += 1
                    continue
                }
                // Any try of this message has the same answer; replies to earlier messages are not it.
                guard (firstID...id).contains(replyID) else {
                    ignored += 1
                    continue
                }
                // Every try of this message would be answered the same way: the service cuts what it echoes.
                guard payload.readableBytes == message.count else {
                    throw PorterError(
                        .connection,
                        "\(shown) answered a \(UDPEchoDatagram.headerLength + message.count)-byte datagram with \(size) bytes: it does not echo datagrams this large whole; send shorter messages"
                    )
                }
                return Reply(
                    payload: Array(payload.readableBytesView), tries: attempt + 1, roundTrip: clock.now - started,
                    ignored: ignored)
            }
        }
        let why = refused ? " (the port is closed: nothing listens there)" : ""
        throw PorterError(
            .connection,
            "no answer from \(shown) after \(retries + 1) tries of \(timeout) s each\(why)")
    }
}

/// A connected, blocking UDP socket; used on the thread pool.
private final class UDPSocket {
    let descriptor: CInt

    init(host: String, port: Int) throws {
        let address: SocketAddress
        do {
            address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw PorterError(.connection, "cannot resolve \(host): \(error)")
        }
        descriptor = Glibc.socket(
            CInt(address.protocol.rawValue), CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw PorterError(.connection, "cannot open a UDP socket") }
        let connected = address.withSockAddr { pointer, size in Glibc.connect(descriptor, pointer, socklen_t(size)) }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw PorterError(.connection, "cannot reach \(host):\(port): \(reason)")
        }
    }

    deinit { Glibc.close(descriptor) }

    func send(_ datagram: ByteBuffer) throws {
        let sent = datagram.withUnsafeReadableBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
        // A refusal of an earlier datagram may be reported on this send; the next try will tell.
        guard sent >= 0 || errno == ECONNREFUSED else {
            throw PorterError(.connection, "cannot send: \(String(cString: strerror(errno)))")
        }
    }

    /// The next datagram (at most ``UDPEchoDatagram/maxLength`` + 1 bytes of it) and its real size, or `nil` once
    /// `deadline` passes.
    func receive(until deadline: ContinuousClock.Instant, refused: inout Bool) throws -> (ByteBuffer, Int)? {
        var buffer = [UInt8](repeating: 0, count: UDPEchoDatagram.maxLength + 1)
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            var poll = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = max(
                1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            guard Glibc.poll(&poll, 1, milliseconds) > 0 else { continue }
            // MSG_TRUNC: the result is the datagram's real size, even when it is larger than the buffer.
            let count = buffer.withUnsafeMutableBytes {
                Glibc.recv(descriptor, $0.baseAddress, $0.count, CInt(MSG_TRUNC))
            }
            if count < 0 {
                if errno == ECONNREFUSED { refused = true }
                if errno == EINTR || errno == ECONNREFUSED { continue }
                throw PorterError(.connection, "cannot receive: \(String(cString: strerror(errno)))")
            }
            return (ByteBuffer(bytes: buffer[..<min(count, buffer.count)]), count)
        }
    }
}
