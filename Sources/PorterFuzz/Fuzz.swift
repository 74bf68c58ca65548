import NIOCore
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// libFuzzer's entry point (see fuzz/run.sh). `PORTER_FUZZ_TARGET` picks what the input is fed to: `frames`,
/// `frames2`, `connection2`, `client2`, `messages`, `paths`, `udp`, `classic` or `keys`. Besides not crashing, each target checks a property of what it
/// accepts. The tests replay the seed corpus and every input that once failed through the same functions.
@_cdecl("LLVMFuzzerTestOneInput")
public func porterFuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    FuzzTarget.selected.check(Array(UnsafeBufferPointer(start: data, count: count)))
    return 0
}

public enum FuzzTarget: String, CaseIterable, Sendable {
    case frames, frames2, connection2, client2, messages, paths, udp, classic, keys

    static let selected: FuzzTarget = {
        guard let name = getenv("PORTER_FUZZ_TARGET").map({ String(cString: $0) }),
            let target = FuzzTarget(rawValue: name)
        else { fatalError("set PORTER_FUZZ_TARGET to one of \(allCases.map(\.rawValue))") }
        return target
    }()

    private static let slash = UInt8(ascii: "/")

    /// Feeds `bytes` to this target; a failed check stops the process (libFuzzer records the input).
    public func check(_ bytes: [UInt8]) {
        switch self {
        case .frames: Self.frames(bytes)
        case .frames2: Self.channelFrames(bytes)
        case .connection2: ConnectionFuzz.run(bytes)
        case .client2: ClientConnectionFuzz.run(bytes)
        case .messages: Self.messages(bytes)
        case .paths: Self.paths(bytes)
        case .udp: Self.udp(bytes)
        case .classic: Self.classic(bytes)
        case .keys: Self.keys(bytes)
        }
    }

    /// What a peer or a file gives as keys: a public key or signature blob (`auth.key`, `auth.proof`), a private
    /// key file, an authorized keys file. What parses re-encodes to a form that parses to the same value, and an
    /// authorized keys file yields at most one entry or problem per line.
    public static func keys(_ bytes: [UInt8]) {
        if let key = try? SSHPublicKey(blob: bytes) {
            precondition(key.blob == bytes, "a public key blob does not re-encode to its bytes")
        }
        if let signature = try? SSHSignature(blob: bytes) {
            precondition((try? SSHSignature(blob: signature.blob)) == signature, "a signature round trip changed it")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        if let key = try? SSHPrivateKey(openSSH: text) {
            let again = try? SSHPrivateKey(openSSH: key.openSSHText())
            precondition(again?.publicKey == key.publicKey, "a private key round trip changed it")
        }
        let keys = AuthorizedKeys(text: text, path: "fuzz")
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).count
        precondition(keys.entries.count + keys.problems.count <= lines, "more entries and problems than lines")
        for entry in keys.entries { _ = try? SSHPublicKey(blob: entry.keyBlob) }
    }

    /// The frame decoder with small limits, on bytes as they might arrive in pieces: every frame it returns
    /// re-encodes to exactly the bytes it consumed.
    public static func frames(_ bytes: [UInt8]) {
        forEachFrame(in: bytes, form: .handshake) { frame in
            if frame.kind == .control { _ = try? ConnectionMessage(frame: frame) }
        }
    }

    /// Decodes `bytes` in `form` with small limits until the decoder stops, checking that every frame re-encodes
    /// to exactly the bytes it was decoded from, and hands each to `body`.
    private static func forEachFrame(in bytes: [UInt8], form: FrameForm, _ body: (Frame) -> Void) {
        var decoder = FrameDecoder(limits: FrameLimits(maxControlPayload: 1024, maxDataPayload: 4096), form: form)
        var buffer = ByteBuffer(bytes: bytes)
        while true {
            let before = buffer.readerIndex
            guard let frame = try? decoder.decode(buffer: &buffer) else { return }
            // The buffer was made from `bytes`, so its indices are offsets into them.
            let consumed = bytes[before..<buffer.readerIndex]
            precondition(
                frame.encoded(form: form).readableBytesView.elementsEqual(consumed),
                "a frame does not re-encode to its bytes")
            body(frame)
        }
    }

    /// The channel form with small limits: every frame it returns re-encodes to exactly the bytes
    /// it consumed and keeps every header rule (no empty control or data payload, window, eof and close of their
    /// sizes on a channel from 1 up, no reserved channel, no window of 0); every control payload that decodes as a
    /// connection message (channel 0) or a channel message (for the service the channel id picks: channel 1 exec,
    /// 2 file.get, and so on in ``ChannelService``'s order) is in range and survives a round trip.
    public static func channelFrames(_ bytes: [UInt8]) {
        forEachFrame(in: bytes, form: .channels) { frame in
            precondition(frame.channel < Frame.firstReservedChannel, "a reserved channel was accepted")
            switch frame.kind {
            case .control, .data:
                precondition(frame.payload.readableBytes > 0, "an empty control or data frame was accepted")
                precondition(frame.kind == .data || frame.stream == .main, "a control frame on a stream was accepted")
            case .window:
                precondition((frame.windowCredit ?? 0) > 0, "a window frame without credit was accepted")
            case .eof, .close:
                precondition(frame.payload.readableBytes == 0, "an eof or close frame with a payload was accepted")
            }
            precondition(frame.kind == .control || frame.channel != 0, "a frame of a channel on channel 0")
            guard frame.kind == .control else { return }
            if frame.channel == 0 {
                guard let message = try? ConnectionMessage(frame: frame) else { return }
                precondition((try? ConnectionMessage(payload: message.payload)) == message, "a round trip changed it")
                precondition((try? message.validate()) != nil, "a decoded message holds a member outside its range")
            } else {
                let services = ChannelService.allCases
                let service = services[Int((frame.channel - 1) % UInt32(services.count))]
                guard let message = try? ChannelMessage(frame: frame, service: service) else { return }
                precondition(
                    (try? ChannelMessage(payload: message.payload, service: service)) == message,
                    "a round trip changed it")
                precondition((try? message.validate()) != nil, "a decoded message holds a member outside its range")
            }
        }
    }

    /// Every control message, as a connection message and as a message of each channel service: what decodes
    /// re-encodes to JSON that decodes to the same message, and every number in it is one the server can use as it
    /// does (a `Duration`, a terminal size, file offsets) without a trap.
    public static func messages(_ bytes: [UInt8]) {
        let payload = ByteBuffer(bytes: bytes)
        if let message = try? ConnectionMessage(payload: payload) {
            precondition((try? ConnectionMessage(payload: message.payload)) == message, "a round trip changed it")
            if case .global(let global) = message, case .fileAttrs(let attributes) = global.request {
                if let mode = attributes.mode { _ = mode_t(mode) }
                if let mtime = attributes.mtime { _ = timespec(tv_sec: Int(mtime.seconds), tv_nsec: mtime.nanoseconds) }
            }
        }
        for service in ChannelService.allCases {
            guard let message = try? ChannelMessage(payload: payload, service: service) else { continue }
            precondition(
                (try? ChannelMessage(payload: message.payload, service: service)) == message, "a round trip changed it")
            switch message {
            case .open(let open):
                switch open.parameters {
                case .exec(let exec):
                    if let timeout = exec.timeout { _ = Duration.seconds(timeout) + .seconds(60) }
                    if let pty = exec.pty { _ = (UInt16(pty.rows), UInt16(pty.cols)) }
                case .filePut(let put):
                    _ = put.size + Int64(1 << 20)
                    if let mtime = put.mtime { _ = timespec(tv_sec: Int(mtime.seconds), tv_nsec: mtime.nanoseconds) }
                case .fileGet(let get):
                    _ = (get.offset ?? 0) + Int64(1 << 20)
                default:
                    break
                }
            case .accept(let accept):
                if case .fileGet(let header) = accept.details {
                    _ = header.size - header.offset
                    _ = mode_t(header.mode)
                }
            case .execResize(let size):
                _ = (UInt16(size.rows), UInt16(size.cols))
            default:
                break
            }
        }
    }

    /// The path checks: accepted components never climb out of the root or hide a separator.
    public static func paths(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let components = try? PeerPath.components(of: text) {
            for component in components {
                precondition(!component.isEmpty && component != "." && component != "..", "component \(component)")
                precondition(!component.utf8.contains(slash) && !component.utf8.contains(0), "separator or NUL")
            }
        }
        if let components = try? PeerPath.localComponents(of: text) {
            for component in components {
                precondition(PeerPath.problem(withLocalName: Substring(component)) == nil, "unsafe local name")
            }
        }
        let parts = text.split(separator: "\n", maxSplits: 1).map(String.init)
        if parts.count == 2, let link = try? PeerPath.components(of: parts[0]), !link.isEmpty,
            PeerPath.symlinkStaysInside(at: link, target: parts[1])
        {
            // Byte by byte, independently of PeerPath's own splitting: leading `..` no more than the link's depth,
            // and never a `..` after a name (which could climb out through another link).
            var depth = link.count - 1
            var named = false
            for part in parts[1].utf8.split(separator: slash) where !part.elementsEqual(".".utf8) {
                if part.elementsEqual("..".utf8) {
                    precondition(!named, "a symlink target with '..' after a name was accepted")
                    depth -= 1
                    precondition(depth >= 0, "a symlink target leads out")
                } else {
                    named = true
                }
            }
            precondition(parts[1].utf8.first != slash, "an absolute symlink target was accepted")
        }
    }

    /// UDP echo datagrams: the reply is never larger than the request, and keeps a request's id.
    public static func udp(_ bytes: [UInt8]) {
        let datagram = ByteBuffer(bytes: bytes)
        for headers in [true, false] {
            guard let reply = UDPEchoDatagram.reply(to: datagram, headers: headers) else {
                precondition(bytes.count > UDPEchoDatagram.maxLength, "a datagram within the limit was dropped")
                continue
            }
            precondition(reply.readableBytes == bytes.count, "the reply's size differs from the request's")
            if headers, let (id, _) = UDPEchoDatagram.parseReply(datagram) {
                precondition(UDPEchoDatagram.parseReply(reply)?.id == id, "the reply lost the request id")
            }
        }
    }

    /// The classic listeners' request parsers: an ftp name is a safe relative path, chat text keeps no line end,
    /// and an exec reply's length header reads back as the length.
    public static func classic(_ bytes: [UInt8]) {
        let request = ByteBuffer(bytes: bytes)
        _ = ClassicRequest.execCommand(request)
        if let path = ClassicRequest.ftpGet(request) {
            precondition(!path.isEmpty, "an empty ftp name was accepted")
            for component in path {
                precondition(
                    component != "." && component != ".." && !component.utf8.contains(slash), "ftp name \(path)")
            }
        }
        if let text = ClassicRequest.chatText(request) {
            precondition(!text.isEmpty && !text.hasSuffix("\n") && !text.hasSuffix("\r"), "chat text keeps a line end")
        }
        let length = bytes.count * 65_537 % (Int(Int32.max) + 1)
        precondition(
            ClassicRequest.execReplyHeader(length: length).getInteger(at: 0, endianness: .little, as: Int32.self)
                == Int32(length), "an exec reply header does not read back")
    }
}
