import Crypto
import NIOSSL
import PorterProtocol
import X509

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The server's long-term identity: a P-256 key and a self-signed certificate for it, kept together in one PEM
/// file readable only by its owner (by default `~/.porter/identity.pem`, beside the token).
///
/// Clients recognise the server by the key's ``Fingerprint``, as ssh clients recognise a host key; the
/// certificate only carries the key into TLS, so its names and dates play no part in trust.
public struct ServerIdentity: Sendable {
    /// `~/.porter/identity.pem`.
    public static var defaultPath: String { PorterDirectory.path + "/identity.pem" }

    /// The key's fingerprint, as clients show and pin it.
    public let fingerprint: Fingerprint
    /// The certificate in DER, which the channel binding hashes.
    public let certificateDER: [UInt8]
    let certificate: NIOSSLCertificate
    let privateKey: NIOSSLPrivateKey

    /// Reads the identity at `path`, creating a new one (mode 0600) if the file does not exist.
    ///
    /// - Returns: the identity, and whether it was created now.
    public static func loadOrCreate(at path: String) throws(PorterError) -> (identity: ServerIdentity, created: Bool) {
        if PrivateFile.exists(path) {
            return (try load(at: path), false)
        }
        let pem: String
        do {
            pem = try generatePEM()
        } catch {
            throw PorterError(.configuration, "cannot generate a server identity: \(error)")
        }
        try PrivateFile.create(path, contents: pem, what: "identity file")
        return (try load(at: path), true)
    }

    /// Reads the identity at `path`, refusing a file that others can read.
    public static func load(at path: String) throws(PorterError) -> ServerIdentity {
        let bytes = try PrivateFile.load(path, what: "identity file")
        do {
            return try ServerIdentity(pem: bytes)
        } catch {
            throw PorterError(
                .configuration,
                "identity file \(path) does not hold a private key and its certificate in PEM; move it away to create a new identity"
            )
        }
    }

    /// Reads an identity from PEM text holding a private key and a certificate for it.
    public init(pem: [UInt8]) throws {
        let certificates = try NIOSSLCertificate.fromPEMBytes(pem)
        guard let certificate = certificates.first else { throw PorterError(.configuration, "no certificate") }
        let privateKey = try NIOSSLPrivateKey(bytes: pem, format: .pem)
        self.certificate = certificate
        self.privateKey = privateKey
        self.certificateDER = try certificate.toDERBytes()
        self.fingerprint = Fingerprint(subjectPublicKeyInfo: try certificate.extractPublicKey().toSPKIBytes())
    }

    /// A new identity that lives only in memory, for servers that need no stable identity (tests, say).
    public static func generate() throws -> ServerIdentity {
        try ServerIdentity(pem: Array(generatePEM().utf8))
    }

    /// A new key and a self-signed certificate for it, valid for a century, as PEM.
    static func generatePEM() throws -> String {
        let key = P256.Signing.PrivateKey()
        let signingKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            CommonName("porter")
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: signingKey.publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(100 * 365.25 * 86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                SubjectAlternativeNames([.dnsName("porter")])
            },
            issuerPrivateKey: signingKey
        )
        return key.pemRepresentation + "\n" + (try certificate.serializeAsPEM().pemString) + "\n"
    }
}
