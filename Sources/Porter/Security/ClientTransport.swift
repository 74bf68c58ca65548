import NIOCore
import NIOSSL
import PorterProtocol

/// How a client protects a TCP connection. Unix-socket connections are always plaintext.
public enum ClientTransport: Sendable {
    /// TLS 1.3, with the server's identity checked by `trust` before any Porter message is sent.
    case tls(HostTrust)
    /// No encryption; only for servers started with `--plaintext`.
    case plaintext
}

/// What the TLS layer of one client connection learned, for the Porter handshake above it.
///
/// Written on the event loop (and by the task asking about a first contact), read by the connecting task.
final class TLSSession: Sendable {
    private struct State {
        var binding: [UInt8] = []
        var fingerprint: Fingerprint?
        var recordOnSuccess = false
        var failure: PorterError?
    }

    let host: String
    let trust: HostTrust
    private let state = Locked(State())

    init(host: String, trust: HostTrust) {
        self.host = host
        self.trust = trust
    }

    /// The channel binding for the authentication proof: the hash of the certificate the server presented.
    var binding: [UInt8] { state.withLock { $0.binding } }

    /// The identity the server presented, once its certificate has arrived.
    var fingerprint: Fingerprint? { state.withLock { $0.fingerprint } }

    /// Why the connection was refused below the Porter protocol, if it was.
    var failure: PorterError? { state.withLock { $0.failure } }

    func fail(_ error: PorterError) {
        state.withLock { if $0.failure == nil { $0.failure = error } }
    }

    /// Records a first-contact identity once the Porter handshake has succeeded, if trust asked for that.
    func recordIfNeeded() throws(PorterError) {
        let (record, fingerprint) = state.withLock { ($0.recordOnSuccess, $0.fingerprint) }
        guard record, let fingerprint else { return }
        try trust.knownHosts.record(fingerprint, for: host)
    }

    /// The TLS handler for this connection: the server's certificate checked by ``verify``.
    func makeHandler() throws -> NIOSSLClientHandler {
        let context = try TransportSecurity.clientContext.get()
        return try NIOSSLClientHandler(context: context, serverHostname: nil) { [self] certificates, promise in
            verify(certificates, promise)
        }
    }

    private func verify(_ certificates: [NIOSSLCertificate], _ promise: EventLoopPromise<NIOSSLVerificationResult>) {
        guard let leaf = certificates.first, let der = try? leaf.toDERBytes(),
            let key = try? leaf.extractPublicKey().toSPKIBytes()
        else {
            fail(PorterError(.authentication, "\(host) presented no usable certificate"))
            promise.succeed(.failed)
            return
        }
        let fingerprint = Fingerprint(subjectPublicKeyInfo: key)
        state.withLock {
            $0.fingerprint = fingerprint
            $0.binding = ChannelBinding.serverEndPoint(certificateDER: der)
        }
        switch trust.decide(host: host, presenting: fingerprint) {
        case .trust:
            promise.succeed(.certificateVerified)
        case .trustAndRecord:
            state.withLock { $0.recordOnSuccess = true }
            promise.succeed(.certificateVerified)
        case .refuse(let error):
            fail(error)
            promise.succeed(.failed)
        case .ask(let ask):
            let host = self.host
            let knownHosts = trust.knownHosts
            Task {
                if await ask(host, fingerprint) {
                    // Recorded at once, as ssh does: a person said yes, and a server that timed out while they
                    // read the prompt is then trusted on the next attempt without asking again.
                    do throws(PorterError) {
                        try knownHosts.record(fingerprint, for: host)
                        promise.succeed(.certificateVerified)
                    } catch {
                        self.fail(error)
                        promise.succeed(.failed)
                    }
                } else {
                    self.fail(HostTrust.unknownHost(host, fingerprint, knownHosts))
                    promise.succeed(.failed)
                }
            }
        }
    }
}

/// Turns a reply that is not TLS into a clear error on a TLS client.
///
/// A TLS server answers with a TLS record (first byte 0x16, or 0x15 for an alert). A Porter server started with
/// `--plaintext` answers a TLS client with one plaintext `error` frame saying so; this handler reads that frame —
/// and nothing else — and reports its message. It never lets the connection go on without TLS.
final class TLSReplyCheck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let session: TLSSession
    private var plaintext: ByteBuffer?

    init(session: TLSSession) {
        self.session = session
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if plaintext == nil {
            guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
            if first == TransportSecurity.tlsHandshakeRecord || first == TransportSecurity.tlsAlertRecord {
                context.fireChannelRead(data)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            plaintext = context.channel.allocator.buffer(capacity: buffer.readableBytes)
        }
        plaintext!.writeBuffer(&buffer)
        if let verdict = Self.verdict(on: plaintext!, host: session.host) {
            session.fail(verdict)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if plaintext != nil { session.fail(Self.notTLS(session.host)) }
        context.fireChannelInactive()
    }

    /// The error to report once enough plaintext has arrived to tell, or `nil` to wait for more.
    static func verdict(on buffer: ByteBuffer, host: String) -> PorterError? {
        guard buffer.readableBytes >= Frame.headerLength else { return nil }
        guard let kind = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            kind == Frame.Kind.control.rawValue,
            let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self),
            length <= FrameLimits.defaultMaxControlPayload
        else { return notTLS(host) }
        guard buffer.readableBytes >= Frame.headerLength + Int(length) else { return nil }
        let payload = buffer.getSlice(at: buffer.readerIndex + Frame.headerLength, length: Int(length))!
        guard case .error(let body)? = try? ConnectionMessage(payload: payload) else { return notTLS(host) }
        return PorterError(remote: body)
    }

    static func notTLS(_ host: String) -> PorterError {
        PorterError(
            .connection,
            "\(host) did not answer with TLS; if it is a Porter server started with --plaintext, connect with --plaintext"
        )
    }
}
