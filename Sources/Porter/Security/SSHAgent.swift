import PorterProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A client of a running ssh-agent (draft-miller-ssh-agent), reached at its unix socket: it lists the agent's keys
/// and has it sign with one, so that a key protected by a passphrase, or held by a hardware token, can
/// authenticate without Porter reading it.
///
/// Only Ed25519 and ECDSA P-256 keys are used; the agent's other keys (RSA, say) are ignored.
///
/// Every call opens its own connection and does blocking I/O: a call may wait up to ``ioTimeoutSeconds`` for each
/// read and write, for instance while the agent asks its user to confirm a signature (`ssh-add -c`). Callers run
/// it off the event loop and off Swift concurrency's cooperative threads, on a thread of its own.
public struct SSHAgent: Sendable {
    /// The environment variable holding the agent's socket path.
    public static let environmentVariable = "SSH_AUTH_SOCK"
    /// How long one read or write on the agent's socket may wait, in seconds: long enough for a person to confirm
    /// a signature the agent asks about.
    public static let ioTimeoutSeconds = 30
    /// The longest message sent to or accepted from the agent, OpenSSH's agent limit (256 KiB); a reply claiming
    /// more is refused before any of it is buffered.
    public static let maximumMessageLength = 256 * 1024

    /// The messages of draft-miller-ssh-agent used here.
    private enum Message {
        static let failure: UInt8 = 5
        static let requestIdentities: UInt8 = 11
        static let identitiesAnswer: UInt8 = 12
        static let signRequest: UInt8 = 13
        static let signResponse: UInt8 = 14
        /// Failure replies of older protocol versions, which OpenSSH's client treats as `failure` too.
        static let otherFailures: Set<UInt8> = [30, 102]
    }

    /// The path of the agent's unix socket.
    public let socketPath: String

    /// An agent listening at `socketPath`. Nothing is opened until a request.
    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// The agent named by `SSH_AUTH_SOCK`; `nil` if the variable is unset or empty.
    public static var fromEnvironment: SSHAgent? {
        guard let value = getenv(environmentVariable) else { return nil }
        let path = String(cString: value)
        return path.isEmpty ? nil : SSHAgent(socketPath: path)
    }

    /// The agent's Ed25519 and ECDSA P-256 keys, in the agent's order, with their comments as the agent sent them
    /// (escape a comment before showing it on a terminal). Keys of other types are skipped.
    ///
    /// - Throws: ``SSHAgentError`` naming the socket if the agent cannot be reached, breaks the connection, does
    ///   not answer in time, refuses, or answers with something malformed.
    public func identities() throws(SSHAgentError) -> [(key: SSHPublicKey, comment: String)] {
        var reply = try request(
            Message.requestIdentities, [], answer: Message.identitiesAnswer, refusal: "refused to list its keys")
        return try parsing { () throws(SSHKeyError) in
            let count = try reply.readUInt32("the number of keys")
            var identities: [(key: SSHPublicKey, comment: String)] = []
            for _ in 0..<count {
                let blob = try reply.readString("a key")
                let comment = try reply.readString("a key's comment")
                // A key this client cannot use (RSA, a certificate, a hardware-token key type) is left out.
                if let key = try? SSHPublicKey(blob: blob) {
                    identities.append((key, String(decoding: comment, as: UTF8.self)))
                }
            }
            try reply.expectEnd()
            return identities
        }
    }

    /// Has the agent sign `data` with `key`, which must be one of its ``identities()``, and checks that the
    /// signature verifies.
    ///
    /// - Throws: ``SSHAgentError`` of kind `refused` if the agent does not hold the key or its user declined, and
    ///   of the other kinds as ``identities()``.
    public func sign(_ data: [UInt8], with key: SSHPublicKey) throws(SSHAgentError) -> SSHSignature {
        let blob = key.blob
        // The request: type, string key, string data, uint32 flags.
        guard data.count <= Self.maximumMessageLength - blob.count - 13 else {
            throw failure(
                .invalidRequest,
                "cannot ask it to sign \(data.count) bytes: its requests are limited to \(Self.maximumMessageLength)")
        }
        var contents = SSHWireWriter()
        contents.writeString(blob)
        contents.writeString(data)
        contents.writeUInt32(0)
        let refusal =
            "refused to sign with \(key.algorithm.rawValue) key \(key.fingerprint): the agent does not hold it, "
            + "or its use was not confirmed (`ssh-add -l` lists the agent's keys; `ssh-add KEYFILE` adds one)"
        var reply = try request(Message.signRequest, contents.bytes, answer: Message.signResponse, refusal: refusal)
        let signature = try parsing { () throws(SSHKeyError) in
            let signatureBlob = try reply.readString("the signature")
            try reply.expectEnd()
            return try SSHSignature(blob: signatureBlob)
        }
        guard key.isValidSignature(signature, for: data) else {
            throw failure(
                .protocolViolation,
                "returned a \(signature.algorithm.rawValue) signature that does not verify with key "
                    + key.fingerprint)
        }
        return signature
    }

    /// Sends one request and returns a reader over the reply's contents, after its type byte.
    private func request(
        _ type: UInt8, _ contents: [UInt8], answer: UInt8, refusal: String
    ) throws(SSHAgentError) -> SSHWireReader {
        var message = SSHWireWriter()
        message.writeUInt32(UInt32(1 + contents.count))
        message.writeBytes([type])
        message.writeBytes(contents)
        let reply = try exchange(message.bytes)
        if reply[0] == Message.failure || Message.otherFailures.contains(reply[0]) {
            throw failure(.refused, refusal)
        }
        guard reply[0] == answer else {
            throw failure(.protocolViolation, "answered with message type \(reply[0]) instead of \(answer)")
        }
        return SSHWireReader(reply.dropFirst(), context: "ssh-agent reply")
    }

    /// Runs `body`, turning its malformed-input error into a protocol violation of the agent.
    private func parsing<Value>(
        _ body: () throws(SSHKeyError) -> Value
    ) throws(SSHAgentError) -> Value {
        do {
            return try body()
        } catch {
            throw failure(.protocolViolation, "sent a reply Porter cannot read: \(error.message)")
        }
    }

    /// Writes `message` on a new connection and returns the reply's body (at least its type byte).
    private func exchange(_ message: [UInt8]) throws(SSHAgentError) -> [UInt8] {
        let descriptor = try connect()
        defer { close(descriptor) }
        try writeAll(message, to: descriptor)
        let header = try readExactly(4, from: descriptor)
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        guard length >= 1 else { throw failure(.protocolViolation, "sent an empty reply") }
        guard length <= Self.maximumMessageLength else {
            throw failure(
                .protocolViolation,
                "sent a reply of \(length) bytes, longer than the \(Self.maximumMessageLength) allowed")
        }
        return try readExactly(length, from: descriptor)
    }

    /// A blocking stream socket connected to the agent, with the I/O timeouts set.
    private func connect() throws(SSHAgentError) -> Int32 {
        guard !socketPath.isEmpty, !socketPath.utf8.contains(0) else {
            throw failure(.unreachable, "cannot connect: the socket path is empty or contains a NUL byte")
        }
        guard var address = UnixSocketFile.socketAddress(socketPath) else {
            throw failure(
                .unreachable,
                "cannot connect: the socket path is longer than a socket address holds (\(UnixSocketFile.pathCapacity - 1) bytes)"
            )
        }
        let descriptor = UnixSocketFile.streamSocket()
        guard descriptor >= 0 else { throw failure(.unreachable, "cannot create a socket: \(Self.errnoText())") }
        var timeout = timeval(tv_sec: time_t(Self.ioTimeoutSeconds), tv_usec: 0)
        let timeoutsSet = [SO_RCVTIMEO, SO_SNDTIMEO].allSatisfy {
            setsockopt(descriptor, SOL_SOCKET, $0, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0
        }
        // A write to a socket the agent closed must fail with EPIPE, not raise SIGPIPE (Linux uses MSG_NOSIGNAL).
        #if canImport(Darwin)
            var one: Int32 = 1
            let signalOff =
                setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
        #else
            let signalOff = true
        #endif
        guard timeoutsSet, signalOff else {
            let why = Self.errnoText()
            close(descriptor)
            throw failure(.unreachable, "cannot set up the socket: \(why)")
        }
        while true {
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Self.systemConnect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if connected == 0 { return descriptor }
            // A unix-domain connect interrupted by a signal is left undone, and is made again.
            guard errno == EINTR else { break }
        }
        let why =
            switch errno {
            case ENOENT, ECONNREFUSED:
                "\(Self.errnoText()) (is the agent running? `eval $(ssh-agent)` starts one and sets "
                    + "\(Self.environmentVariable))"
            case EAGAIN, EWOULDBLOCK: "the agent did not accept the connection within \(Self.ioTimeoutSeconds) seconds"
            default: Self.errnoText()
            }
        close(descriptor)
        throw failure(.unreachable, "cannot connect: \(why)")
    }

    private func writeAll(_ bytes: [UInt8], to descriptor: Int32) throws(SSHAgentError) {
        #if canImport(Glibc)
            let flags = Int32(MSG_NOSIGNAL)
        #else
            let flags: Int32 = 0
        #endif
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { raw in
                send(descriptor, raw.baseAddress! + offset, raw.count - offset, flags)
            }
            if sent > 0 {
                offset += sent
            } else if sent < 0 && errno == EINTR {
                continue
            } else {
                throw failure(.connection, "cannot send the request: \(ioFailure(sent))")
            }
        }
    }

    private func readExactly(_ count: Int, from descriptor: Int32) throws(SSHAgentError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let received = bytes.withUnsafeMutableBytes { raw in
                read(descriptor, raw.baseAddress! + offset, raw.count - offset)
            }
            if received > 0 {
                offset += received
            } else if received < 0 && errno == EINTR {
                continue
            } else {
                throw failure(.connection, "cannot read the reply: \(ioFailure(received))")
            }
        }
        return bytes
    }

    /// Why a `read` or `send` returning `result` (zero or negative) failed.
    private func ioFailure(_ result: Int) -> String {
        guard result < 0 else { return "the agent closed the connection" }
        if errno == EAGAIN || errno == EWOULDBLOCK {
            return "the agent did not answer within \(Self.ioTimeoutSeconds) seconds"
        }
        return Self.errnoText()
    }

    private func failure(_ kind: SSHAgentError.Kind, _ detail: String) -> SSHAgentError {
        SSHAgentError(kind, socketPath: socketPath, "ssh-agent at \(socketPath): \(detail)")
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }

    private static func systemConnect(
        _ descriptor: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t
    ) -> Int32 {
        #if canImport(Glibc)
            Glibc.connect(descriptor, address, length)
        #else
            Darwin.connect(descriptor, address, length)
        #endif
    }
}

/// Why a request to ssh-agent failed; the message names the agent's socket.
public struct SSHAgentError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The broad kind of failure.
    public enum Kind: Sendable, Equatable {
        /// The agent's socket cannot be connected to: no such file, nobody listening, a path too long.
        case unreachable
        /// The connection broke, or the agent did not answer within ``SSHAgent/ioTimeoutSeconds``.
        case connection
        /// The agent answered with a failure: it does not hold the key, or its user declined.
        case refused
        /// The agent's reply is malformed, of the wrong type, too long, or its signature does not verify.
        case protocolViolation
        /// The request cannot be made: the data to sign is too long for the agent.
        case invalidRequest
    }

    /// The kind of failure.
    public var kind: Kind
    /// The agent's socket path.
    public var socketPath: String
    /// One line for a person: the socket, what failed and, where there is something to do, what to do.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, socketPath: String, _ message: String) {
        self.kind = kind
        self.socketPath = socketPath
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
