import NIOCore
import NIOSSL
import PorterProtocol

/// The constants and server-side TLS setup of Porter's secure transport.
enum TransportSecurity {
    /// The ALPN protocol name both sides offer.
    static let applicationProtocol = "porter"
    /// The first byte of a TLS handshake record: what a TLS client sends first and a TLS server answers with.
    static let tlsHandshakeRecord: UInt8 = 0x16
    /// The first byte of a TLS alert record.
    static let tlsAlertRecord: UInt8 = 0x15

    /// The TLS context every client connection shares: TLS 1.3 only. Names and certificate authorities play no
    /// part — each connection's verification callback checks the key's fingerprint — so none is loaded (the
    /// system's bundle costs milliseconds).
    static let clientContext = Result { () throws -> NIOSSLContext in
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates([])
        configuration.applicationProtocols = [applicationProtocol]
        return try NIOSSLContext(configuration: configuration)
    }

    /// The server's TLS context: TLS 1.3 only, presenting `identity`, asking no client certificate (clients
    /// authenticate with the token inside TLS).
    static func serverContext(identity: ServerIdentity) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(identity.certificate)],
            privateKey: .privateKey(identity.privateKey)
        )
        configuration.minimumTLSVersion = .tlsv13
        configuration.applicationProtocols = [applicationProtocol]
        return try NIOSSLContext(configuration: configuration)
    }
}

/// How a server protects its TCP listeners. Unix-socket listeners are always plaintext.
public enum ServerTransport: Sendable {
    /// TLS 1.3 with this identity.
    case tls(ServerIdentity)
    /// No encryption (`--plaintext`): for loopback benchmarks and trusted networks only.
    case plaintext
}
