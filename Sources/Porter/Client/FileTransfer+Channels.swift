import NIOCore
import NIOPosix
import PorterProtocol

/// Files on channels: each listing, download and upload is a channel of its own
/// (docs/PROTOCOL.md sections 5.4.2–5.4.4), and directories, symlinks and attributes are global requests
/// (section 4.4).
extension ClientConnection {
    /// The window a download grants the server: 4 MiB, the most a download holds here before it is written.
    static let downloadWindow = ChannelLimits.defaultMaxWindow

    func listOnChannel(_ path: String, recursive: Bool, _ channels: ClientChannels) async throws -> RemoteListing {
        let (channel, accept) = try await channels.openAccepted(
            .fileList(.init(path: path, recursive: recursive ? true : nil)), window: 0)
        defer { channel.close() }
        guard case .fileList(let kind) = accept.details else { throw Self.unexpected("accept", "file.list") }
        var listing = RemoteListing(type: kind, entries: [], skipped: 0)
        while let input = try await channel.receive() {
            switch input {
            case .message(.fileListing(let part)):
                listing.entries += part.entries
            case .message(.done(.fileList(let end))):
                listing.directory = end.directory
                listing.skipped = end.skipped ?? 0
                listing.skippedNames = end.skippedNames ?? []
                return listing
            case .message(.fail(let error)):
                throw Self.failed(error)
            case .eof:
                continue
            case let other:
                throw Self.unexpected(other, "file.list")
            }
        }
        throw Self.closedEarly("listing")
    }

    func downloadOnChannel(
        _ remote: String, into file: IncomingFile, shown: String, options: TransferOptions, _ channels: ClientChannels,
        summary: inout TransferSummary
    ) async throws {
        let get = ControlMessage.FileGet(
            path: remote, offset: file.offered > 0 ? file.offered : nil, prefix: file.offeredDigest,
            checksum: options.checksum)
        let channel: ClientChannel
        let accept: ChannelMessage.Accept
        do {
            (channel, accept) = try await channels.openAccepted(.fileGet(get), window: Self.downloadWindow)
        } catch {
            // Refused before any data: a partial file made only for this request would be litter.
            if file.offered == 0 { file.discard() }
            throw error
        }
        defer { channel.close() }
        guard case .fileGet(let header) = accept.details else { throw Self.unexpected("accept", "file.get") }
        try await LocalPath.run { try file.begin(at: header.offset) }
        let report = options.reporter(
            shown, size: header.size, resumedFrom: header.offset, mode: header.mode, mtime: header.mtime)
        report(header.offset, nil)
        let eventLoop = channel.channel.eventLoop
        var received = header.offset
        // One chunk is written to disk while the next arrives.
        var writing: EventLoopFuture<Void>?
        var digest: String?
        do {
            receiving: while let input = try await channel.receive() {
                switch input {
                case .data(_, let bytes):
                    received += Int64(bytes.readableBytes)
                    guard received <= header.size else {
                        throw PorterError(
                            .protocolViolation, "the server sent more than the \(header.size) bytes it announced")
                    }
                    try await writing?.get()
                    writing = NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) { try file.write(bytes) }
                    report(received, nil)
                case .eof:
                    continue
                case .message(.done(.fileGet(let end))):
                    digest = end.digest
                    break receiving
                case .message(.fail(let error)):
                    throw Self.failed(error)
                case let other:
                    throw Self.unexpected(other, "file.get")
                }
            }
            try await writing?.get()
        } catch let error as ProtocolError {
            try? await writing?.get()
            throw PorterError(.configuration, "local file: \(error.message)", code: error.code)
        } catch {
            try? await writing?.get()
            throw error
        }
        guard let digest else { throw Self.closedEarly("file") }
        guard received == header.size else {
            throw PorterError(
                .protocolViolation, "the server ended the file after \(received) of \(header.size) bytes")
        }
        try await LocalPath.run { try file.finish(expected: digest, mode: header.mode, mtime: header.mtime) }
        report(header.size, digest)
        summary.add(size: header.size, resumedFrom: header.offset, digest: digest, checksum: options.checksum)
    }

    func uploadOnChannel(
        _ file: OutgoingFile, to remote: String, shown: String, options: TransferOptions, _ channels: ClientChannels,
        summary: inout TransferSummary
    ) async throws {
        let entry = file.entry
        let put = ControlMessage.FilePut(
            path: remote, size: entry.size, mode: entry.mode, mtime: entry.mtime, checksum: options.checksum,
            resume: options.resume ? true : nil)
        let (channel, accept) = try await channels.openAccepted(.filePut(put), window: 0)
        defer { channel.close() }
        guard case .filePut(let ready) = accept.details else { throw Self.unexpected("accept", "file.put") }
        let offset = try await LocalPath.run { try file.resume(at: ready.offset, prefix: ready.prefix) }
        let report = options.reporter(
            shown, size: entry.size, resumedFrom: offset, mode: entry.mode, mtime: entry.mtime)
        report(offset, nil)
        do {
            try await channel.write(.message(.fileBegin(.init(offset: offset))))
            try await FileStreaming.send(
                file, chunkSize: Self.uploadChunk, eventLoop: channel.channel.eventLoop
            ) { chunk, sent in
                try await channel.write(.data(.main, chunk))
                report(offset + sent, nil)
            }
            try await channel.finish()
            try await channel.write(.message(.fileEnd(.init(digest: file.hex))))
        } catch let error as ProtocolError {
            throw PorterError(.configuration, "reading \(TerminalText.escaped(shown)): \(error.message)")
        } catch {
            // The server may have ended the channel with its reason: a full disk, data it did not expect.
            try await Self.result(of: channel, for: "file.put", otherwise: error)
            throw error
        }
        try await Self.result(of: channel, for: "file.put", otherwise: nil)
        report(entry.size, file.hex)
        summary.add(size: entry.size, resumedFrom: offset, digest: file.hex, checksum: options.checksum)
    }

    /// Bytes per write of an upload: the channel cuts them into frames within the server's credit.
    static let uploadChunk = 1 << 20

    /// Waits for the server's `done` on an upload's channel; throws its `fail`. Without either before the channel
    /// closes, throws `otherwise`, or a closed-early error.
    private static func result(of channel: ClientChannel, for service: String, otherwise: (any Error)?)
        async throws
    {
        while true {
            let input: ChannelInput?
            do {
                input = try await channel.receive()
            } catch {
                throw otherwise ?? error
            }
            guard let input else { break }
            switch input {
            case .message(.done): return
            case .message(.fail(let error)): throw failed(error)
            case .eof: continue
            case let other: throw unexpected(other, service)
            }
        }
        if let otherwise { throw otherwise }
        throw closedEarly("upload")
    }

    private static func failed(_ error: ProtocolError) -> PorterError {
        PorterError(remote: .init(error, fatal: false))
    }

    private static func unexpected(_ input: ChannelInput, _ service: String) -> PorterError {
        let what: String =
            switch input {
            case .data: "data"
            case .eof: "eof"
            case .message(let message): "'\(message.type)'"
            }
        return PorterError(.protocolViolation, "the server sent \(what) on a \(service) channel")
    }

    private static func unexpected(_ what: String, _ service: String) -> PorterError {
        PorterError(.protocolViolation, "the server's \(what) of a \(service) channel is not a \(service) accept")
    }

    private static func closedEarly(_ what: String) -> PorterError {
        PorterError(.connection, "the server closed the channel in the middle of a \(what)")
    }
}

extension ClientChannels {
    /// Sends a global request and waits for its answer.
    ///
    /// - Throws: ``PorterError`` of kind ``PorterError/Kind/refused`` on `global.fail` (the connection goes on),
    ///   or of the connection's failure.
    func global(_ request: ConnectionMessage.GlobalRequest.Request) async throws(PorterError) {
        let multiplexer = self.multiplexer
        do {
            try await channel.eventLoop.flatSubmit { multiplexer.value.global(request) }.get()
        } catch {
            throw Self.porterError(error)
        }
    }
}
