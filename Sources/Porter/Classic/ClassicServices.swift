import Crypto
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The six classic listeners (docs/PROTOCOL.md, "Classic listeners"), each a thin translation of a course wire
/// format onto Porter's own services: the same exec policies, the same confined root, the same chat rooms.
enum ClassicServices {
    /// Binds every classic listener, or none.
    ///
    /// - Throws: ``PorterError`` if the exec or ftp listener would be exposed beyond loopback without
    ///   ``ClassicConfiguration/insecure``, or a port cannot be bound.
    static func bind(
        _ configuration: ClassicConfiguration, exec: ExecService, files: FileService, chat: ChatService,
        group: any EventLoopGroup, logger: Logger
    ) async throws -> [any FrontDoor] {
        let host = configuration.host
        let exposed = !Endpoint.tcp(host: host, port: 0).isLoopback
        if exposed, !configuration.insecure {
            throw PorterError(
                .configuration,
                "--classic on \(host) would let anyone who can reach it run commands and read files without a token; listen on loopback, or add --classic-insecure"
            )
        }
        // Every classic TCP listener has the same connection limits, each its own count.
        let limits = configuration.limits
        let output = SharedByteBudget(capacity: configuration.maxExecOutputTotal)
        var doors: [any FrontDoor] = []
        do {
            doors.append(
                try await PipelineListener.bind(
                    name: "classic echo", host: host, port: configuration.echoPort, limits: limits, group: group
                ) { channel in try channel.pipeline.syncOperations.addHandler(ClassicEchoHandler()) })
            doors.append(
                try await AsyncListener.bind(
                    name: "classic exec", host: host, port: configuration.execPort, readSize: 1024, limits: limits,
                    group: group
                ) { connection in
                    try await serveExec(
                        connection, exec: exec, configuration: configuration, output: output, logger: logger)
                })
            doors.append(
                try await AsyncListener.bind(
                    name: "classic ftp", host: host, port: configuration.ftpPort, readSize: 1024, limits: limits,
                    group: group
                ) { connection in try await serveFTP(connection, files: files) })
            doors.append(
                try await PipelineListener.bindUDPEcho(
                    name: "classic udp echo", host: host, port: configuration.udpPort, headers: false, group: group))
            doors.append(
                try await PipelineListener.bind(
                    name: "classic http", host: host, port: configuration.httpPort, limits: limits, group: group
                ) { channel in try ClassicHTTPHandler.setUp(channel, configuration: configuration) })
            doors.append(
                try await AsyncListener.bind(
                    name: "classic chat", host: host, port: configuration.chatPort, readSize: 1024, limits: limits,
                    group: group
                ) { connection in try await serveChat(connection, chat: chat) })
        } catch {
            for door in doors { door.close() }
            throw error
        }
        for door in doors where door.name == "classic exec" || door.name == "classic ftp" {
            logger.warning(
                "\(door.name) on \(door.address) has no authentication: whoever can connect \(door.name == "classic exec" ? "runs commands" : "reads files under the root") as this user"
            )
        }
        return doors
    }

    /// Exec: each read (one `send` of at most 1024 bytes) is a command for `/bin/sh -c`; the reply is its output
    /// and error output, after their total length as a 4-byte little-endian signed integer.
    ///
    /// The output is drawn from `output`, the budget all classic exec connections share, and given back once the
    /// reply has left; while the command runs, the connection does not count as idle.
    static func serveExec(
        _ connection: AsyncListener.Connection, exec: ExecService, configuration: ClassicConfiguration,
        output: SharedByteBudget, logger: Logger
    ) async throws {
        let channel = connection.channel
        try await connection.executeThenClose { inbound, outbound in
            for try await request in inbound {
                let command = ClassicRequest.execCommand(request)
                let collected: CollectedOutput
                channel.triggerUserOutboundEvent(IdleTimeoutHandler.Request.started, promise: nil)
                defer { channel.triggerUserOutboundEvent(IdleTimeoutHandler.Request.ended, promise: nil) }
                do {
                    collected = try await CollectedOutput.collect(
                        command, from: exec, limit: min(configuration.maxExecOutput, Int(Int32.max)),
                        timeout: configuration.execTimeout, shared: output, on: channel.eventLoop, logger: logger)
                } catch let error as ProtocolError {
                    let message = ByteBuffer(string: "porter: \(error.message)\n")
                    let header = ClassicRequest.execReplyHeader(length: message.readableBytes)
                    try await outbound.write(contentsOf: [header, message])
                    continue
                }
                defer { output.giveBack(collected.budgeted) }
                let header = ClassicRequest.execReplyHeader(
                    length: collected.output.readableBytes + collected.errors.readableBytes)
                try await outbound.write(contentsOf: [header, collected.output, collected.errors])
                // The bytes are spent once they have left for the client, not when they are queued for it: an
                // empty write completes after every write before it.
                try await channel.writeAndFlush(ByteBuffer())
            }
        }
    }

    /// Ftp: `get NAME` → the size in ASCII; any bytes from the client (the ack) → the file; then its MD5 in hex.
    /// A name that is missing, outside the root or not a regular file closes the connection, as the course's
    /// server does.
    static func serveFTP(_ connection: AsyncListener.Connection, files: FileService) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var requests = inbound.makeAsyncIterator()
            while let request = try await requests.next() {
                guard let path = ClassicRequest.ftpGet(request) else { return }
                let root = files.root
                guard let file = try? await BlockingIO.run({ try OutgoingFile(in: root, path) }) else { return }
                try await outbound.write(ByteBuffer(string: String(file.entry.size)))
                guard try await requests.next() != nil else { return }
                var md5 = Insecure.MD5()
                let chunkSize = files.configuration.chunkSize
                try await FileStreaming.send(file, chunkSize: chunkSize, eventLoop: connection.channel.eventLoop) {
                    chunk, _ in
                    chunk.withUnsafeReadableBytes { md5.update(bufferPointer: $0) }
                    try await outbound.write(chunk)
                }
                let digest = FileDigest.hex(md5.finalize())
                try await outbound.write(ByteBuffer(string: digest))
            }
        }
    }

    /// Chat: each read is said in the room `lobby` by `host:port`; every message there comes back as
    /// `name: text` and a newline.
    static func serveChat(_ connection: AsyncListener.Connection, chat: ChatService) async throws {
        let peer = connection.channel.remoteAddress
        let name =
            peer.map { address in
                let host = address.ipAddress ?? "?"
                return host.contains(":") ? "[\(host)]:\(address.port ?? 0)" : "\(host):\(address.port ?? 0)"
            } ?? "classic"
        let channel = connection.channel
        try await connection.executeThenClose { inbound, outbound in
            let membership = try chat.join(room: "lobby", name: name, checkingName: false) {
                channel.close(promise: nil)
            }
            defer { chat.leave(membership.id) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await event in membership.events {
                        guard case .message(let from, let text, _) = event else { continue }
                        try await outbound.write(ByteBuffer(string: "\(from): \(text)\n"))
                    }
                }
                for try await chunk in inbound {
                    guard let text = ClassicRequest.chatText(chunk) else { continue }
                    try? chat.say(membership.id, text: text)
                }
                chat.leave(membership.id)
                group.cancelAll()
            }
        }
    }
}

/// Echo: every chunk comes back with ASCII letters upper-cased, as it arrives.
final class ClassicEchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        EchoTransform.uppercaseASCII(&bytes)
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }
}

/// HTTP: any HTTP/1.x request is answered `200 OK`, `text/plain`, `Hello, World`, with a correct length.
final class ClassicHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Adds the HTTP codec, with ``ClassicConfiguration/maxHTTPHeaders`` bytes of headers at most, its
    /// request-head deadline, and this handler. A malformed request is answered `400` and the connection closed.
    static func setUp(_ channel: any Channel, configuration: ClassicConfiguration) throws {
        try HTTPPipeline.setUp(
            channel, maxHeaderBytes: configuration.maxHTTPHeaders, maxHeaderFields: 100,
            requestHeadTimeout: configuration.requestHeadTimeout, handler: ClassicHTTPHandler())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let body = ByteBuffer(string: "Hello, World")
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
