import NIOCore
import NIOPosix
import Porter
import PorterProtocol

/// A plaintext connection driven frame by frame, for tests of the server's channels: it runs the handshake with
/// the test token, then sends and reads raw frames (docs/PROTOCOL.md).
struct FrameConnection {
    let channel: any Channel
    let outbound: NIOAsyncChannelOutboundWriter<Frame>
    var frames: NIOAsyncChannelInboundStream<Frame>.AsyncIterator
    let welcome: ConnectionMessage.Welcome

    /// Connects to `endpoint` (TCP, plaintext), authenticates, runs `body`, and closes the connection.
    static func run<Result>(
        _ endpoint: Endpoint, _ body: (inout FrameConnection) async throws -> Result
    ) async throws -> Result {
        guard case .tcp(let host, let port) = endpoint else { throw TestFailure("frame tests use TCP") }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FrameCodec())
                    return try NIOAsyncChannel<Frame, Frame>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var frames = inbound.makeAsyncIterator()
            let nonce = [UInt8](repeating: 7, count: 32)
            let hello = ConnectionMessage.hello(.init(versions: [2], agent: "porter/test", nonce: .init(nonce)))
            try await outbound.write(hello.frame)
            guard let welcomeFrame = try await frames.next(),
                case .welcome(let welcome) = try ConnectionMessage(frame: welcomeFrame), welcome.version == 2
            else { throw TestFailure("the server did not choose version 2") }
            // Nothing more comes before auth, so the switch cannot race a frame.
            try await channel.channel.triggerUserOutboundEvent(FrameForm.channels)
            let proofs = AuthProof(token: testToken, clientNonce: nonce, serverNonce: welcome.nonce.bytes)
            let auth = ConnectionMessage.auth(.init(method: AuthProof.method, proof: .init(proofs.proof(for: .client))))
            try await outbound.write(auth.frame)
            guard let readyFrame = try await frames.next(),
                case .ready(let ready) = try ConnectionMessage(frame: readyFrame),
                let proof = ready.proof, proofs.verify(proof.bytes, for: .server)
            else { throw TestFailure("no valid ready") }
            var connection = FrameConnection(
                channel: channel.channel, outbound: outbound, frames: frames, welcome: welcome)
            return try await body(&connection)
        }
    }

    /// Sends frames, flushed once.
    func send(_ frames: Frame...) async throws {
        try await outbound.write(contentsOf: frames)
    }

    /// Sends frames, flushed once.
    func send(contentsOf frames: [Frame]) async throws {
        try await outbound.write(contentsOf: frames)
    }

    /// The next frame; fails if the connection closes.
    mutating func next() async throws -> Frame {
        guard let frame = try await frames.next() else { throw TestFailure("the server closed the connection") }
        return frame
    }

    /// The next frame, or `nil` once the server has closed the connection.
    mutating func nextOrEnd() async throws -> Frame? {
        try await frames.next()
    }

    /// Opens an echo channel on `id` granting the server `window` bytes; returns the server's `accept`.
    mutating func openEcho(_ id: UInt32, window: Int) async throws -> ChannelMessage.Accept {
        try await send(ChannelMessage.open(.init(window: window, parameters: .echo)).frame(channel: id))
        let frame = try await next()
        guard frame.channel == id, case .accept(let accept) = try ChannelMessage(frame: frame, service: .echo) else {
            throw TestFailure("expected accept on channel \(id), got \(frame)")
        }
        return accept
    }
}
