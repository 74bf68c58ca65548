import Crypto
import Foundation
import NIOCore
import NIOPosix
import PorterProtocol

@testable import Porter

/// A fresh directory under the system's temporary directory, removed after `body`.
func withTemporaryDirectory<Result>(_ body: (String) async throws -> Result) async throws -> Result {
    let path = NSTemporaryDirectory() + "porter-files-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Writes `count` random bytes to `path`.
func writeRandomFile(_ path: String, count: Int) throws {
    guard let random = FileHandle(forReadingAtPath: "/dev/urandom") else { throw TestFailure("no /dev/urandom") }
    defer { try? random.close() }
    try random.readData(ofLength: count).write(to: URL(fileURLWithPath: path))
}

/// The SHA-256 of the file at `path` as `sha256sum` prints it, or `nil` if it cannot be read.
func sha256(of path: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

/// Every path under `directory`, relative to it, sorted.
func tree(_ directory: String) -> [String] {
    ((FileManager.default.enumerator(atPath: directory)?.allObjects as? [String]) ?? []).sorted()
}

/// Runs a plaintext TCP relay to `target` while `body` runs; `corrupt` may change each chunk that flows from
/// the server to the client (`toClient`) or the other way, given the offset of its first byte in that direction.
/// With a `pause`, each direction waits that long after every chunk it passes on: a slow link, so that a transfer
/// is still running when the test acts on it.
@discardableResult
func withRelay<Result: Sendable>(
    to target: Endpoint,
    corrupt: @escaping @Sendable (_ toClient: Bool, _ offset: Int, _ chunk: inout ByteBuffer) -> Void = { _, _, _ in },
    pause: Duration = .zero,
    _ body: (Endpoint) async throws -> Result
) async throws -> Result {
    guard case .tcp(let host, let port) = target else { throw TestFailure("relays use TCP") }
    let group = MultiThreadedEventLoopGroup.singleton
    let listener = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0) { channel in
        channel.eventLoop.makeCompletedFuture {
            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
    }
    let relayPort = listener.channel.localAddress?.port ?? 0
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            try await listener.executeThenClose { inbound in
                // Each connection is relayed on its own; one that fails (a client killed mid-transfer) ends alone.
                try await withThrowingTaskGroup(of: Void.self) { connections in
                    for try await client in inbound {
                        connections.addTask {
                            try? await pipe(client, to: host, port: port, corrupt: corrupt, pause: pause)
                        }
                    }
                }
            }
        }
        defer { group.cancelAll() }
        return try await body(.tcp(host: "127.0.0.1", port: relayPort))
    }
}

/// Connects to the server and relays between it and `client`. Every async channel is finished through
/// `executeThenClose`, whatever fails, as NIO requires.
private func pipe(
    _ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, to host: String, port: Int,
    corrupt: @escaping @Sendable (Bool, Int, inout ByteBuffer) -> Void, pause: Duration
) async throws {
    try await client.executeThenClose { clientIn, clientOut in
        let server = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await server.executeThenClose { serverIn, serverOut in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await forward(clientIn, to: serverOut, toClient: false, corrupt: corrupt, pause: pause)
                }
                group.addTask {
                    try await forward(serverIn, to: clientOut, toClient: true, corrupt: corrupt, pause: pause)
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }
}

private func forward(
    _ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
    toClient: Bool, corrupt: @escaping @Sendable (Bool, Int, inout ByteBuffer) -> Void, pause: Duration
) async throws {
    var offset = 0
    for try await var chunk in inbound {
        let count = chunk.readableBytes
        corrupt(toClient, offset, &chunk)
        offset += count
        try await outbound.write(chunk)
        if pause > .zero { try await Task.sleep(for: pause) }
    }
}

/// Flips one byte at `position` of the stream in one direction.
func flipByte(at position: Int, toClient direction: Bool) -> @Sendable (Bool, Int, inout ByteBuffer) -> Void {
    { toClient, offset, chunk in
        guard toClient == direction, position >= offset, position < offset + chunk.readableBytes else { return }
        let index = chunk.readerIndex + position - offset
        chunk.setInteger(chunk.getInteger(at: index, as: UInt8.self)! ^ 0x20, at: index)
    }
}

/// Runs a hostile plaintext server that authenticates clients with ``testToken`` and answers every channel the
/// client opens with the frames `answer` gives for it, while `body` runs.
@discardableResult
func withFakeServer<Result: Sendable>(
    answer: @escaping @Sendable (UInt32, ChannelMessage.Open) -> [Frame],
    _ body: (Endpoint) async throws -> Result
) async throws -> Result {
    let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(FrameCodec())
                try channel.pipeline.syncOperations.addHandler(FakeServerHandler(answer: answer))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    defer { listener.close(promise: nil) }
    return try await body(.tcp(host: "127.0.0.1", port: listener.localAddress?.port ?? 0))
}

/// A fake server's connection, on the event loop: the handshake, then an answer to every `open`; every other frame
/// on a channel is ignored, and a `close` from the client is answered with one.
private final class FakeServerHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = Frame

    private var handshake = ServerHandshake(
        identity: .init(agent: "fake/1", server: "fake", limits: .init()), token: testToken,
        nonce: [UInt8](repeating: 7, count: ControlMessage.nonceLength))
    private var authenticated = false
    private let answer: @Sendable (UInt32, ChannelMessage.Open) -> [Frame]

    init(answer: @escaping @Sendable (UInt32, ChannelMessage.Open) -> [Frame]) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard authenticated else {
            guard let message = try? ConnectionMessage(frame: frame) else { return context.close(promise: nil) }
            switch handshake.receive(message) {
            case .welcome(let welcome):
                context.writeAndFlush(wrapOutboundOut(ConnectionMessage.welcome(welcome).frame), promise: nil)
                context.triggerUserOutboundEvent(FrameForm.channels, promise: nil)
            case .authenticated(let ready):
                context.writeAndFlush(wrapOutboundOut(ready.frame), promise: nil)
                authenticated = true
            case .fail, .refuse:
                context.close(promise: nil)
            }
            return
        }
        guard frame.channel != 0 else { return }
        switch frame.kind {
        case .control:
            guard case .open(let open) = try? ChannelMessage(frame: frame, service: nil) else { return }
            for reply in answer(frame.channel, open) { context.write(wrapOutboundOut(reply), promise: nil) }
            context.flush()
        case .close:
            context.writeAndFlush(wrapOutboundOut(.close(channel: frame.channel)), promise: nil)
        default:
            return
        }
    }
}

/// A fake server's answers for a recursive download: `listing` for `file.list`, `payload` (with `mode`) for every
/// `file.get`, a refusal for anything else. Each channel ends with the server's eof and its result; the client's
/// close is answered.
func treeAnswers(
    listing: [ControlMessage.FileEntry], payload: ByteBuffer = ByteBuffer(string: "data"), mode: UInt32 = 0o644
) -> @Sendable (UInt32, ChannelMessage.Open) -> [Frame] {
    { id, open in
        let end: [Frame] = [.eof(channel: id)]
        switch open.parameters {
        case .fileList:
            return [
                ChannelMessage.accept(.init(window: 0, details: .fileList(kind: .directory))).frame(channel: id),
                ChannelMessage.fileListing(.init(entries: listing)).frame(channel: id),
            ] + end + [ChannelMessage.done(.fileList(.init())).frame(channel: id)]
        case .fileGet:
            let header = ControlMessage.FileHeader(
                size: Int64(payload.readableBytes), offset: 0, mode: mode, mtime: .init(seconds: 0, nanoseconds: 0))
            return [
                ChannelMessage.accept(.init(window: 0, details: .fileGet(header))).frame(channel: id),
                .data(payload, channel: id),
            ] + end + [ChannelMessage.done(.fileGet(.init(digest: FileDigest.hex(of: payload)))).frame(channel: id)]
        default:
            return [
                ChannelMessage.refuse(ProtocolError(.unknownService, "fake")).frame(channel: id)
            ]
        }
    }
}

extension FileDigest {
    /// The digest of `content` with `algorithm`, in hex.
    static func hex(of content: ByteBuffer, _ algorithm: ControlMessage.Checksum = .default) -> String {
        var digest = FileDigest(algorithm)
        digest.update(content)
        return digest.hex
    }
}
