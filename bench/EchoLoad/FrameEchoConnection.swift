import NIOCore
import NIOPosix
import Porter
import PorterProtocol

/// A plaintext connection with one echo channel, driven frame by frame (docs/PROTOCOL.md sections 4 and 5): the
/// load generator's client without Porter's client library, to measure the server alone.
///
/// It sends within the credit the server grants (`accept.window`, then window frames) and grants the server
/// more once half of its own window is used, as section 5.2's receiver rule says.
struct FrameEchoConnection {
    /// The echo channel's id.
    static let channel: UInt32 = 1
    /// The window the client grants the server's answers: what Porter's client grants echo (section 5.2).
    static let window = 256 * 1024

    private let connection: any Channel
    private let outbound: NIOAsyncChannelOutboundWriter<Frame>
    private var frames: NIOAsyncChannelInboundStream<Frame>.AsyncIterator
    /// The largest data payload the server accepts (`welcome.limits`).
    private var maxDataPayload = FrameLimits.defaultMaxDataPayload
    /// Bytes the client may still send on the channel.
    private var credit = 0
    /// Bytes the server may still send on the channel: granted and not yet received.
    private var granted = window

    private init(
        connection: any Channel, outbound: NIOAsyncChannelOutboundWriter<Frame>,
        frames: NIOAsyncChannelInboundStream<Frame>.AsyncIterator
    ) {
        self.connection = connection
        self.outbound = outbound
        self.frames = frames
    }

    /// Connects to `host`:`port` over TCP, authenticates with `token` on version 2, opens the echo channel, runs
    /// `body`, and closes the connection.
    static func run<Result>(
        host: String, port: Int, token: String, _ body: (inout FrameEchoConnection) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FrameCodec())
                    return try NIOAsyncChannel<Frame, Frame>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = FrameEchoConnection(
                connection: channel.channel, outbound: outbound, frames: inbound.makeAsyncIterator())
            try await connection.authenticate(token: token)
            try await connection.openEcho()
            return try await body(&connection)
        }
    }

    /// Sends `request` on the echo channel and reads answers until as many bytes have come back; returns whether
    /// they are `answer`.
    mutating func roundTrip(_ request: ByteBuffer, expecting answer: ByteBuffer) async throws -> Bool {
        var unsent = request
        var received = 0
        var matches = true
        while received < answer.readableBytes {
            var data: [Frame] = []
            while unsent.readableBytes > 0, credit > 0 {
                let chunk = unsent.readSlice(length: min(unsent.readableBytes, credit, maxDataPayload))!
                credit -= chunk.readableBytes
                data.append(.data(chunk, channel: Self.channel))
            }
            if !data.isEmpty { try await outbound.write(contentsOf: data) }
            let frame = try await nextOnChannel()
            switch frame.kind {
            case .window:
                try addCredit(frame)
            case .data:
                let length = frame.payload.readableBytes
                matches =
                    matches && frame.stream == .main
                    && answer.getSlice(at: answer.readerIndex + received, length: length) == frame.payload
                received += length
                try await consumed(length)
            case .control, .eof, .close:
                throw Self.unexpected(frame)
            }
        }
        return matches
    }

    /// Sends eof and reads to the server's end of the channel (eof, `done`, close), then answers its close.
    mutating func finish() async throws {
        try await outbound.write(.eof(channel: Self.channel))
        var done = false
        while true {
            let frame = try await nextOnChannel()
            switch frame.kind {
            case .window, .eof:
                continue
            case .control:
                switch try ChannelMessage(frame: frame, service: .echo) {
                case .done: done = true
                case .fail(let error): throw PorterError(.protocolViolation, "server: \(error.message)")
                default: throw Self.unexpected(frame)
                }
            case .close:
                try await outbound.write(.close(channel: Self.channel))
                guard done else {
                    throw PorterError(.protocolViolation, "the server closed the echo channel without done")
                }
                return
            case .data:
                throw Self.unexpected(frame)
            }
        }
    }

    /// `hello` offering version 2, `welcome`, the switch to the channel form, `auth`, and `ready` checked.
    private mutating func authenticate(token: String) async throws {
        let nonce = Randomness.bytes(ControlMessage.nonceLength)
        let hello = ConnectionMessage.hello(
            .init(versions: [ConnectionMessage.version], agent: "porter-echo-load", nonce: .init(nonce)))
        try await outbound.write(hello.frame)
        guard case .welcome(let welcome) = try await nextMessage(), welcome.version == ConnectionMessage.version
        else { throw PorterError(.authentication, "the server did not choose protocol version 2") }
        maxDataPayload = welcome.limits.frames.maxDataPayload
        // Nothing more comes before auth, so the switch cannot race a frame.
        try await connection.triggerUserOutboundEvent(FrameForm.channels)
        let proofs = AuthProof(token: token, clientNonce: nonce, serverNonce: welcome.nonce.bytes)
        let auth = ConnectionMessage.auth(.init(method: AuthProof.method, proof: .init(proofs.proof(for: .client))))
        try await outbound.write(auth.frame)
        guard case .ready(let ready) = try await nextMessage(), let proof = ready.proof,
            proofs.verify(proof.bytes, for: .server)
        else {
            throw PorterError(.authentication, "the server's proof is wrong: it does not hold this token")
        }
    }

    /// Opens the echo channel granting `window`, and takes the server's credit from its `accept`.
    private mutating func openEcho() async throws {
        try await outbound.write(
            ChannelMessage.open(.init(window: Self.window, parameters: .echo)).frame(channel: Self.channel))
        let frame = try await nextOnChannel()
        guard frame.kind == .control else { throw Self.unexpected(frame) }
        switch try ChannelMessage(frame: frame, service: .echo) {
        case .accept(let accept): credit = accept.window
        case .refuse(let error): throw PorterError(.refused, "server: \(error.message)")
        default: throw Self.unexpected(frame)
        }
    }

    /// Adds a window frame's credit; more than 2^32−1 in all is the server's `flow-control` error.
    private mutating func addCredit(_ frame: Frame) throws {
        credit += Int(frame.windowCredit ?? 0)
        guard credit <= UInt32.max else {
            throw PorterError(.protocolViolation, "the server granted more than 2^32-1 bytes of credit")
        }
    }

    /// Counts `length` answer bytes against the client's window and, once half of it is used, grants it again.
    private mutating func consumed(_ length: Int) async throws {
        guard length <= granted else {
            throw PorterError(.protocolViolation, "the server sent more than the echo channel's window")
        }
        granted -= length
        if granted <= Self.window / 2 {
            try await outbound.write(.window(UInt32(Self.window - granted), channel: Self.channel))
            granted = Self.window
        }
    }

    /// The next frame of the echo channel; pings are answered and keepalives skipped on the way.
    private mutating func nextOnChannel() async throws -> Frame {
        while true {
            guard let frame = try await frames.next() else {
                throw PorterError(.connection, "the server closed the connection")
            }
            if frame.channel == Self.channel { return frame }
            guard frame.channel == 0, frame.kind == .control else { throw Self.unexpected(frame) }
            switch try ConnectionMessage(frame: frame) {
            case .ping(let ping): try await outbound.write(ConnectionMessage.pong(ping).frame)
            case .keepalive: continue
            case .error(let body): throw PorterError(.protocolViolation, "server: \(body.message)")
            default: throw Self.unexpected(frame)
            }
        }
    }

    /// The next connection message of the handshake; an `error` from the server is thrown.
    private mutating func nextMessage() async throws -> ConnectionMessage {
        guard let frame = try await frames.next() else {
            throw PorterError(.connection, "the server closed the connection during the handshake")
        }
        let message = try ConnectionMessage(frame: frame)
        if case .error(let body) = message { throw PorterError(.authentication, "server: \(body.message)") }
        return message
    }

    private static func unexpected(_ frame: Frame) -> PorterError {
        PorterError(.protocolViolation, "the server sent an unexpected \(frame.kind) frame on channel \(frame.channel)")
    }
}
