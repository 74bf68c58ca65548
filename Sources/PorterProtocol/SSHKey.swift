import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Why an SSH key, signature or key file could not be read or used.
public struct SSHKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The broad kind of failure.
    public enum Kind: Sendable, Equatable {
        /// The bytes or text are not in the format they claim (truncated, wrong lengths, trailing bytes, corrupt).
        case malformed
        /// A well-formed key or file of a kind Porter does not handle (RSA, DSA, other curves, PEM or PuTTY files).
        case unsupported
        /// A private key protected by a passphrase, which Porter does not decrypt: load it into ssh-agent instead.
        case encrypted
        /// The cryptography library failed to make a signature.
        case signing
    }

    /// The kind of failure.
    public var kind: Kind
    /// One line for a person: what is wrong and, where there is something to do, what to do.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The message.
    public var description: String { message }

    static func unsupportedType(_ name: [UInt8]) -> SSHKeyError {
        SSHKeyError(
            .unsupported,
            "unsupported SSH key type \(SSHWireReader.printable(name)): only Ed25519 and ECDSA P-256 keys are "
                + "supported (ssh-ed25519, ecdsa-sha2-nistp256)")
    }
}

/// An SSH public key of one of the two algorithms Porter supports, in the form OpenSSH writes in `.pub` and
/// `authorized_keys` files and ssh-agent lists.
///
/// Two keys are equal when their key bytes are: the comment of a `.pub` line is not part of the key.
public struct SSHPublicKey: Sendable, Hashable {
    /// The public key algorithms supported, by their SSH names.
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        /// Ed25519 (RFC 8709).
        case ed25519 = "ssh-ed25519"
        /// ECDSA on NIST P-256 with SHA-256 (RFC 5656).
        case ecdsaP256 = "ecdsa-sha2-nistp256"
    }

    /// The key's algorithm.
    public let algorithm: Algorithm
    /// The key itself: the 32 bytes of an Ed25519 key, or the 65-byte uncompressed point (0x04 x y) of a P-256 key.
    public let rawRepresentation: [UInt8]

    /// The SSH name of the only curve supported, as it appears inside P-256 keys.
    static let p256CurveName = "nistp256"

    /// An Ed25519 public key.
    public init(_ key: Curve25519.Signing.PublicKey) {
        self.algorithm = .ed25519
        self.rawRepresentation = Array(key.rawRepresentation)
    }

    /// A P-256 public key.
    public init(_ key: P256.Signing.PublicKey) {
        self.algorithm = .ecdsaP256
        self.rawRepresentation = Array(key.x963Representation)
    }

    /// Parses a public key in the SSH wire format (RFC 4253 section 6.6): `string "ssh-ed25519", string key` (RFC
    /// 8709) or `string "ecdsa-sha2-nistp256", string "nistp256", string Q` (RFC 5656 section 3.1).
    ///
    /// - Throws: ``SSHKeyError`` of kind `unsupported` for another key type, `malformed` for anything else wrong,
    ///   including bytes after the key and a P-256 point not on the curve.
    public init(blob: some Collection<UInt8>) throws(SSHKeyError) {
        var reader = SSHWireReader(blob, context: "SSH public key")
        self = try Self.read(from: &reader)
        try reader.expectEnd()
    }

    /// Parses the key part of a `.pub` or `authorized_keys` line, `TYPE BASE64 [COMMENT]` (no options before the
    /// type), and drops the comment: ``parse(openSSHLine:)`` returns it too.
    ///
    /// - Throws: ``SSHKeyError`` if the line does not parse, or if `TYPE` is not the type inside the key.
    public init(openSSH line: some StringProtocol) throws(SSHKeyError) {
        self = try Self.parse(openSSHLine: line).key
    }

    /// Parses a `.pub` or `authorized_keys` line, `TYPE BASE64 [COMMENT]` (no options before the type),
    /// returning the key and the comment (empty if there is none). Whitespace around the line is ignored.
    ///
    /// - Throws: ``SSHKeyError`` if the line does not parse, or if `TYPE` is not the type inside the key.
    public static func parse(openSSHLine line: some StringProtocol) throws(SSHKeyError) -> (
        key: SSHPublicKey, comment: String
    ) {
        guard line.utf8.count <= SSHPrivateKey.maximumTextSize else {
            throw SSHKeyError(
                .malformed, "the SSH public key line is longer than \(SSHPrivateKey.maximumTextSize) bytes")
        }
        let bytes = Array(line.utf8)
        let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        var fields = ArraySlice(bytes)
        fields = fields.drop(while: isBlank)
        while let last = fields.last, isBlank(last) { fields.removeLast() }
        let type = fields.prefix(while: { !isSpace($0) })
        fields = fields.dropFirst(type.count).drop(while: isSpace)
        let encoded = fields.prefix(while: { !isSpace($0) })
        let comment = fields.dropFirst(encoded.count).drop(while: isSpace)
        guard !type.isEmpty, !encoded.isEmpty else {
            throw SSHKeyError(.malformed, "an SSH public key line must be `TYPE BASE64 [COMMENT]`")
        }
        guard Algorithm(rawValue: String(decoding: type, as: UTF8.self)) != nil else {
            throw SSHKeyError.unsupportedType(Array(type))
        }
        guard let blob = SSHKeyText.decode(encoded) else {
            throw SSHKeyError(.malformed, "the SSH public key line's second field is not base64")
        }
        let key = try SSHPublicKey(blob: blob)
        guard key.algorithm.rawValue.utf8.elementsEqual(type) else {
            throw SSHKeyError(
                .malformed,
                "the SSH public key line names type \(SSHWireReader.printable(Array(type))) but holds an "
                    + "\(key.algorithm.rawValue) key")
        }
        return (key, String(decoding: comment, as: UTF8.self))
    }

    /// The key in the SSH wire format.
    public var blob: [UInt8] {
        var writer = SSHWireWriter()
        write(to: &writer)
        return writer.bytes
    }

    /// The key as a `.pub` or `authorized_keys` line, `TYPE BASE64 COMMENT`, without a newline; the comment and
    /// its space are left out when `comment` is empty. Line breaks in the comment become spaces, so that it cannot
    /// start another line.
    public func openSSHLine(comment: String = "") -> String {
        let line = algorithm.rawValue + " " + Data(blob).base64EncodedString()
        guard !comment.isEmpty else { return line }
        let flat = String(comment.map { $0.isNewline ? " " : $0 })
        return line + " " + flat
    }

    /// The key's fingerprint as `ssh-keygen -l -E sha256` prints it: `SHA256:` and the unpadded base64 of the
    /// SHA-256 digest of ``blob``.
    public var fingerprint: String {
        var encoded = Data(SHA256.hash(data: blob)).base64EncodedString()
        while encoded.hasSuffix("=") { encoded.removeLast() }
        return "SHA256:" + encoded
    }

    /// Whether `signature` is this key's signature of `data`: an Ed25519 signature for an Ed25519 key, or an
    /// ECDSA signature over the SHA-256 digest of `data` for a P-256 key. `false` for a signature of another
    /// algorithm.
    public func isValidSignature(_ signature: SSHSignature, for data: some DataProtocol) -> Bool {
        guard signature.algorithm == algorithm else { return false }
        switch algorithm {
        case .ed25519:
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: rawRepresentation) else {
                return false
            }
            return key.isValidSignature(signature.rawRepresentation, for: data)
        case .ecdsaP256:
            guard let key = try? P256.Signing.PublicKey(x963Representation: rawRepresentation),
                let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature.rawRepresentation)
            else { return false }
            return key.isValidSignature(ecdsa, for: data)
        }
    }

    /// Reads a key from the wire format, leaving `reader` after it.
    static func read(from reader: inout SSHWireReader) throws(SSHKeyError) -> SSHPublicKey {
        let type = try reader.readString("the key type")
        switch Algorithm(rawValue: String(decoding: type, as: UTF8.self)) {
        case .ed25519:
            let key = try reader.readString("the Ed25519 key")
            guard key.count == 32 else {
                throw reader.failure("the Ed25519 key is \(key.count) bytes, not 32")
            }
            return SSHPublicKey(validated: .ed25519, key)
        case .ecdsaP256:
            try reader.expectString(p256CurveName, "the curve name")
            let point = try reader.readString("the P-256 point")
            return try SSHPublicKey(p256Point: point, reader: reader)
        case nil:
            throw SSHKeyError.unsupportedType(type)
        }
    }

    private init(p256Point point: [UInt8], reader: SSHWireReader) throws(SSHKeyError) {
        guard point.count == 65, point[0] == 0x04 else {
            throw reader.failure("the P-256 point is not an uncompressed point of 65 bytes")
        }
        guard (try? P256.Signing.PublicKey(x963Representation: point)) != nil else {
            throw reader.failure("the P-256 point is not on the curve")
        }
        self.init(validated: .ecdsaP256, point)
    }

    private init(validated algorithm: Algorithm, _ rawRepresentation: [UInt8]) {
        self.algorithm = algorithm
        self.rawRepresentation = rawRepresentation
    }

    /// Writes the key in the wire format.
    func write(to writer: inout SSHWireWriter) {
        writer.writeString(algorithm.rawValue)
        if algorithm == .ecdsaP256 { writer.writeString(Self.p256CurveName) }
        writer.writeString(rawRepresentation)
    }
}

/// An SSH signature blob: `string algorithm, string signature`, where the signature is the 64 raw bytes of an
/// Ed25519 signature (RFC 8709) or, for ecdsa-sha2-nistp256, `mpint r, mpint s` (RFC 5656 section 3.1.2).
///
/// Two signatures are equal when their algorithm and values are: an ECDSA blob whose integers carry needless
/// leading zeros equals the minimal one, which ``blob`` writes.
public struct SSHSignature: Sendable, Hashable {
    /// The signature's algorithm, the same as the signing key's.
    public let algorithm: SSHPublicKey.Algorithm
    /// The 64 signature bytes: Ed25519's R and S, or ECDSA's r and s as 32-byte big-endian integers.
    public let rawRepresentation: [UInt8]

    /// An Ed25519 signature from its 64 raw bytes.
    ///
    /// - Throws: ``SSHKeyError`` if `rawSignature` is not 64 bytes.
    public init(ed25519 rawSignature: some Collection<UInt8>) throws(SSHKeyError) {
        try self.init(checking: .ed25519, Array(rawSignature))
    }

    /// An ECDSA P-256 signature from r and s, each a 32-byte big-endian integer (CryptoKit's raw representation).
    ///
    /// - Throws: ``SSHKeyError`` if `rawSignature` is not 64 bytes.
    public init(p256 rawSignature: some Collection<UInt8>) throws(SSHKeyError) {
        try self.init(checking: .ecdsaP256, Array(rawSignature))
    }

    /// Parses a signature blob.
    ///
    /// - Throws: ``SSHKeyError`` of kind `unsupported` for another algorithm (an RSA signature, say), `malformed`
    ///   for wrong lengths, negative or oversized integers, and bytes after the signature.
    public init(blob: some Collection<UInt8>) throws(SSHKeyError) {
        var reader = SSHWireReader(blob, context: "SSH signature")
        let name = try reader.readString("the signature algorithm")
        guard let algorithm = SSHPublicKey.Algorithm(rawValue: String(decoding: name, as: UTF8.self)) else {
            throw SSHKeyError(
                .unsupported,
                "unsupported SSH signature algorithm \(SSHWireReader.printable(name)): only ssh-ed25519 and "
                    + "ecdsa-sha2-nistp256 are supported")
        }
        let signature = try reader.readString("the signature")
        try reader.expectEnd()
        switch algorithm {
        case .ed25519:
            guard signature.count == 64 else {
                throw reader.failure("the Ed25519 signature is \(signature.count) bytes, not 64")
            }
            self.init(validated: .ed25519, signature)
        case .ecdsaP256:
            var integers = SSHWireReader(signature, context: "SSH signature")
            let r = try integers.readUnsignedMPInt("r", maximumCount: 32)
            let s = try integers.readUnsignedMPInt("s", maximumCount: 32)
            try integers.expectEnd()
            self.init(validated: .ecdsaP256, SSHWireWriter.leftPadded(r, to: 32) + SSHWireWriter.leftPadded(s, to: 32))
        }
    }

    /// The signature blob, its ECDSA integers in minimal form.
    public var blob: [UInt8] {
        var writer = SSHWireWriter()
        writer.writeString(algorithm.rawValue)
        switch algorithm {
        case .ed25519:
            writer.writeString(rawRepresentation)
        case .ecdsaP256:
            var integers = SSHWireWriter()
            integers.writeMPInt(unsigned: rawRepresentation[0..<32])
            integers.writeMPInt(unsigned: rawRepresentation[32..<64])
            writer.writeString(integers.bytes)
        }
        return writer.bytes
    }

    private init(checking algorithm: SSHPublicKey.Algorithm, _ raw: [UInt8]) throws(SSHKeyError) {
        guard raw.count == 64 else {
            throw SSHKeyError(.malformed, "an \(algorithm.rawValue) signature is 64 bytes, not \(raw.count)")
        }
        self.init(validated: algorithm, raw)
    }

    private init(validated algorithm: SSHPublicKey.Algorithm, _ raw: [UInt8]) {
        self.algorithm = algorithm
        self.rawRepresentation = raw
    }
}

/// An SSH private key, Ed25519 or ECDSA P-256, with its comment; read from and written to OpenSSH's own private
/// key format (`-----BEGIN OPENSSH PRIVATE KEY-----`, "openssh-key-v1" in OpenSSH's PROTOCOL.key), unencrypted.
public struct SSHPrivateKey: Sendable {
    private enum Storage: Sendable {
        case ed25519(Curve25519.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }

    /// The largest key file text read: a key file of a supported type is well under 1 KiB.
    public static let maximumTextSize = 64 * 1024

    private static let beginMarker = "-----BEGIN OPENSSH PRIVATE KEY-----"
    private static let endMarker = "-----END OPENSSH PRIVATE KEY-----"
    private static let magic = Array("openssh-key-v1".utf8) + [0]
    /// The block size of cipher "none", to which the private section is padded.
    private static let blockSize = 8
    /// The width of the base64 lines, as ssh-keygen writes them.
    private static let lineWidth = 70

    private let storage: Storage
    /// The comment stored with the key, often `user@host`; may be empty.
    public var comment: String

    /// An Ed25519 key.
    public init(_ key: Curve25519.Signing.PrivateKey, comment: String = "") {
        self.storage = .ed25519(key)
        self.comment = comment
    }

    /// A P-256 key.
    public init(_ key: P256.Signing.PrivateKey, comment: String = "") {
        self.storage = .p256(key)
        self.comment = comment
    }

    /// A new random Ed25519 key.
    public static func generateEd25519(comment: String = "") -> SSHPrivateKey {
        SSHPrivateKey(Curve25519.Signing.PrivateKey(), comment: comment)
    }

    /// A new random P-256 key.
    public static func generateP256(comment: String = "") -> SSHPrivateKey {
        SSHPrivateKey(P256.Signing.PrivateKey(), comment: comment)
    }

    /// The key's algorithm.
    public var algorithm: SSHPublicKey.Algorithm {
        switch storage {
        case .ed25519: .ed25519
        case .p256: .ecdsaP256
        }
    }

    /// The key's public half.
    public var publicKey: SSHPublicKey {
        switch storage {
        case .ed25519(let key): SSHPublicKey(key.publicKey)
        case .p256(let key): SSHPublicKey(key.publicKey)
        }
    }

    /// Signs `data`: Ed25519, or ECDSA over the SHA-256 digest of `data` for a P-256 key.
    ///
    /// - Throws: ``SSHKeyError`` of kind `signing` if the cryptography library fails.
    public func signature(for data: some DataProtocol) throws(SSHKeyError) -> SSHSignature {
        do {
            switch storage {
            case .ed25519(let key):
                return try SSHSignature(ed25519: Array(key.signature(for: data)))
            case .p256(let key):
                return try SSHSignature(p256: Array(key.signature(for: data).rawRepresentation))
            }
        } catch {
            throw SSHKeyError(.signing, "cannot sign with the \(algorithm.rawValue) key: \(error)")
        }
    }

    /// Parses the text of an OpenSSH private key file, as `ssh-keygen` writes it: one unencrypted Ed25519 or
    /// ECDSA P-256 key. Text before the `BEGIN` line and after the `END` line is ignored.
    ///
    /// - Throws: ``SSHKeyError`` of kind `encrypted` for a key protected by a passphrase (load it into ssh-agent
    ///   with `ssh-add` instead), `unsupported` for other key types and file formats, `malformed` for text larger
    ///   than ``maximumTextSize`` and anything not in the format.
    public init(openSSH text: String) throws(SSHKeyError) {
        guard text.utf8.count <= Self.maximumTextSize else {
            throw SSHKeyError(
                .malformed, "the private key file is larger than \(Self.maximumTextSize) bytes: not an SSH key")
        }
        try self.init(openSSHBinary: Self.pemBody(Array(text.utf8)))
    }

    /// The key as the text of an OpenSSH private key file, unencrypted, byte for byte as `ssh-keygen` writes it
    /// apart from the random check number: 70-column base64 lines between the `BEGIN` and `END` lines, and a final
    /// newline.
    public func openSSHText() -> String {
        let checkInt = UInt32.random(in: .min ... .max)
        var section = SSHWireWriter()
        section.writeUInt32(checkInt)
        section.writeUInt32(checkInt)
        switch storage {
        case .ed25519(let key):
            let publicBytes = Array(key.publicKey.rawRepresentation)
            section.writeString(SSHPublicKey.Algorithm.ed25519.rawValue)
            section.writeString(publicBytes)
            section.writeString(Array(key.rawRepresentation) + publicBytes)
        case .p256(let key):
            section.writeString(SSHPublicKey.Algorithm.ecdsaP256.rawValue)
            section.writeString(SSHPublicKey.p256CurveName)
            section.writeString(Array(key.publicKey.x963Representation))
            section.writeMPInt(unsigned: Array(key.rawRepresentation))
        }
        section.writeString(Array(comment.utf8))
        var padding: UInt8 = 1
        while section.bytes.count % Self.blockSize != 0 {
            section.writeBytes([padding])
            padding += 1
        }
        var file = SSHWireWriter()
        file.writeBytes(Self.magic)
        file.writeString("none")
        file.writeString("none")
        file.writeString([UInt8]())
        file.writeUInt32(1)
        file.writeString(publicKey.blob)
        file.writeString(section.bytes)
        let encoded = Array(Data(file.bytes).base64EncodedString().utf8)
        var text = Self.beginMarker + "\n"
        var start = 0
        while start < encoded.count {
            let end = min(start + Self.lineWidth, encoded.count)
            text += String(decoding: encoded[start..<end], as: UTF8.self) + "\n"
            start = end
        }
        return text + Self.endMarker + "\n"
    }

    /// The decoded base64 between the markers, or the error saying what the text is instead.
    private static func pemBody(_ bytes: [UInt8]) throws(SSHKeyError) -> [UInt8] {
        guard let begin = SSHKeyText.firstRange(of: Array(beginMarker.utf8), in: bytes, from: 0) else {
            throw notOpenSSH(bytes)
        }
        guard let end = SSHKeyText.firstRange(of: Array(endMarker.utf8), in: bytes, from: begin.upperBound) else {
            throw SSHKeyError(.malformed, "the private key file has no line \(endMarker)")
        }
        let body = bytes[begin.upperBound..<end.lowerBound].filter {
            $0 != 0x20 && $0 != 0x09 && $0 != 0x0D && $0 != 0x0A
        }
        guard let decoded = SSHKeyText.decode(body[...]) else {
            throw SSHKeyError(.malformed, "the private key file's body is not base64")
        }
        return decoded
    }

    /// The error for text without an OpenSSH `BEGIN` line, naming what it is if that can be told.
    private static func notOpenSSH(_ bytes: [UInt8]) -> SSHKeyError {
        let text = String(decoding: bytes.prefix(4096), as: UTF8.self)
        let trimmed = text.drop(while: { $0.isWhitespace })
        if let begin = SSHKeyText.firstRange(of: Array("-----BEGIN ".utf8), in: bytes, from: 0) {
            let label = bytes[begin.upperBound...].prefix(while: { $0 != 0x2D && $0 != 0x0A && $0 != 0x0D })
                .prefix(40)
            let name = SSHWireReader.printable(Array(label), quoted: false)
            let format = "a PEM \"\(name)\" file"
            return switch name {
            case "RSA PRIVATE KEY", "DSA PRIVATE KEY":
                SSHKeyError(
                    .unsupported,
                    "the private key file is \(format): only Ed25519 and ECDSA P-256 keys are supported "
                        + "(make one with `ssh-keygen -t ed25519`)")
            case "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
                SSHKeyError(
                    .unsupported,
                    "the private key file is \(format), not an OpenSSH private key: if it holds an Ed25519 or "
                        + "P-256 key, convert it with `ssh-keygen -p -f <key file>`")
            default:
                SSHKeyError(.unsupported, "the private key file is \(format), not an OpenSSH private key")
            }
        }
        if trimmed.hasPrefix("PuTTY-User-Key-File") {
            return SSHKeyError(
                .unsupported,
                "the private key file is a PuTTY key: export it from PuTTYgen as an OpenSSH key (new format)")
        }
        if SSHPublicKey.Algorithm.allCases.contains(where: { trimmed.hasPrefix($0.rawValue + " ") })
            || trimmed.hasPrefix("ssh-")
        {
            return SSHKeyError(.malformed, "the file holds an SSH public key, not a private key (a .pub file?)")
        }
        return SSHKeyError(.malformed, "not an OpenSSH private key: there is no line \(beginMarker)")
    }

    /// Parses the decoded "openssh-key-v1" structure.
    private init(openSSHBinary bytes: [UInt8]) throws(SSHKeyError) {
        var reader = SSHWireReader(bytes, context: "OpenSSH private key")
        guard try reader.readBytes(Self.magic.count, "the format name") == Self.magic else {
            throw reader.failure("it does not start with \"openssh-key-v1\"")
        }
        let cipher = try reader.readString("the cipher name")
        let kdf = try reader.readString("the key derivation name")
        let kdfOptions = try reader.readString("the key derivation options")
        guard cipher == Array("none".utf8) else {
            throw SSHKeyError(
                .encrypted,
                "the private key is protected by a passphrase, which Porter does not read: load it into ssh-agent "
                    + "with `ssh-add <key file>` and use the agent instead")
        }
        guard kdf == Array("none".utf8), kdfOptions.isEmpty else {
            throw reader.failure("an unencrypted key names key derivation \(SSHWireReader.printable(kdf))")
        }
        let count = try reader.readUInt32("the number of keys")
        guard count == 1 else {
            throw SSHKeyError(.unsupported, "the private key file holds \(count) keys: exactly one is supported")
        }
        let publicKey = try SSHPublicKey(blob: reader.readString("the public key"))
        let section = try reader.readString("the private section")
        try reader.expectEnd()
        guard !section.isEmpty, section.count % Self.blockSize == 0 else {
            throw reader.failure("the private section is not a multiple of \(Self.blockSize) bytes")
        }
        var secret = SSHWireReader(section, context: "OpenSSH private key")
        guard try secret.readUInt32("the first check number") == secret.readUInt32("the second check number") else {
            throw secret.failure("the two check numbers differ: the file is corrupt")
        }
        try secret.expectString(publicKey.algorithm.rawValue, "the private key type")
        switch publicKey.algorithm {
        case .ed25519:
            let publicBytes = try secret.readString("the Ed25519 public key")
            let secretBytes = try secret.readString("the Ed25519 private key")
            guard publicBytes == publicKey.rawRepresentation, secretBytes.count == 64,
                Array(secretBytes[32..<64]) == publicBytes,
                let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: secretBytes[0..<32]),
                Array(key.publicKey.rawRepresentation) == publicBytes
            else { throw secret.failure("the Ed25519 private key does not match its public key") }
            self.storage = .ed25519(key)
        case .ecdsaP256:
            try secret.expectString(SSHPublicKey.p256CurveName, "the curve name")
            let point = try secret.readString("the P-256 public point")
            let scalar = try secret.readUnsignedMPInt("the P-256 private scalar", maximumCount: 32)
            guard point == publicKey.rawRepresentation,
                let key = try? P256.Signing.PrivateKey(rawRepresentation: SSHWireWriter.leftPadded(scalar, to: 32)),
                Array(key.publicKey.x963Representation) == point
            else { throw secret.failure("the P-256 private key does not match its public key") }
            self.storage = .p256(key)
        }
        self.comment = try String(decoding: secret.readString("the comment"), as: UTF8.self)
        var expected: UInt8 = 1
        while !secret.isAtEnd {
            guard try secret.readBytes(1, "the padding") == [expected] else {
                throw secret.failure("the padding after the key is not 1, 2, 3…")
            }
            expected &+= 1
        }
    }
}

/// Base64 and byte search for the text forms of keys, on bytes.
enum SSHKeyText {
    /// Decodes standard padded base64, as OpenSSH writes and requires it; `nil` if it is not that.
    static func decode(_ encoded: ArraySlice<UInt8>) -> [UInt8]? {
        guard encoded.count % 4 == 0 else { return nil }
        return Data(base64Encoded: String(decoding: encoded, as: UTF8.self)).map { Array($0) }
    }

    /// The first range of `needle` in `haystack` at or after `start`.
    static func firstRange(of needle: [UInt8], in haystack: [UInt8], from start: Int) -> Range<Int>? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else {
            return nil
        }
        for index in start...(haystack.count - needle.count)
        where haystack[index] == needle[0] && haystack[index..<index + needle.count].elementsEqual(needle) {
            return index..<index + needle.count
        }
        return nil
    }
}

/// Reads the SSH wire encoding (RFC 4251 section 5): every length is checked against the bytes left before it is
/// used, so no input traps.
package struct SSHWireReader {
    private let bytes: [UInt8]
    private var index = 0
    /// What is being read, for error messages: "SSH public key", say.
    private let context: String

    /// A reader at the start of `bytes`.
    package init(_ bytes: some Collection<UInt8>, context: String) {
        self.bytes = Array(bytes)
        self.context = context
    }

    /// Whether every byte has been read.
    package var isAtEnd: Bool { index == bytes.count }

    /// The error for malformed input, naming the context.
    package func failure(_ detail: String) -> SSHKeyError {
        SSHKeyError(.malformed, "malformed \(context): \(detail)")
    }

    /// Throws unless every byte has been read.
    package func expectEnd() throws(SSHKeyError) {
        guard isAtEnd else { throw failure("\(bytes.count - index) unexpected bytes after the end") }
    }

    /// The next `count` bytes.
    package mutating func readBytes(_ count: Int, _ what: String) throws(SSHKeyError) -> [UInt8] {
        guard count >= 0, count <= bytes.count - index else { throw failure("\(what) is cut short") }
        defer { index += count }
        return Array(bytes[index..<index + count])
    }

    /// A big-endian `uint32`.
    package mutating func readUInt32(_ what: String) throws(SSHKeyError) -> UInt32 {
        try readBytes(4, what).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// A `string`: a `uint32` length and that many bytes.
    package mutating func readString(_ what: String) throws(SSHKeyError) -> [UInt8] {
        let length = try readUInt32(what)
        guard Int(length) <= bytes.count - index else {
            throw failure("\(what) claims \(length) bytes but \(bytes.count - index) remain")
        }
        return try readBytes(Int(length), what)
    }

    /// Reads a `string` and throws unless it is `expected`.
    package mutating func expectString(_ expected: String, _ what: String) throws(SSHKeyError) {
        let found = try readString(what)
        guard found.elementsEqual(expected.utf8) else {
            throw failure("\(what) is \(Self.printable(found)), not \"\(expected)\"")
        }
    }

    /// A non-negative `mpint` (RFC 4251: big-endian two's complement) as its magnitude without leading zeros, at
    /// most `maximumCount` bytes. Needless leading zeros are accepted, as OpenSSH accepts them.
    package mutating func readUnsignedMPInt(_ what: String, maximumCount: Int) throws(SSHKeyError) -> [UInt8] {
        let encoded = try readString(what)
        guard encoded.first.map({ $0 & 0x80 == 0 }) ?? true else { throw failure("\(what) is negative") }
        let magnitude = Array(encoded.drop(while: { $0 == 0 }))
        guard magnitude.count <= maximumCount else {
            throw failure("\(what) is longer than \(maximumCount) bytes")
        }
        return magnitude
    }

    /// `bytes` as text safe to show: printable ASCII, anything else as `?`, at most 64 characters, quoted.
    package static func printable(_ bytes: [UInt8], quoted: Bool = true) -> String {
        let shown = bytes.prefix(64).map { (0x20..<0x7F).contains($0) ? Character(Unicode.Scalar($0)) : "?" }
        let text = String(shown) + (bytes.count > 64 ? "…" : "")
        return quoted ? "\"\(text)\"" : text
    }
}

/// Writes the SSH wire encoding (RFC 4251 section 5).
package struct SSHWireWriter {
    /// The bytes written so far.
    package private(set) var bytes: [UInt8] = []

    /// An empty writer.
    package init() {}

    /// Raw bytes, with no length.
    package mutating func writeBytes(_ raw: some Collection<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    /// A big-endian `uint32`.
    package mutating func writeUInt32(_ value: UInt32) {
        for shift in [24, 16, 8, 0] as [UInt32] { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    /// A `string` of bytes, which must be shorter than 4 GiB.
    package mutating func writeString(_ raw: some Collection<UInt8>) {
        writeUInt32(UInt32(raw.count))
        bytes.append(contentsOf: raw)
    }

    /// A `string` of UTF-8 text.
    package mutating func writeString(_ text: String) {
        writeString(Array(text.utf8))
    }

    /// An `mpint` for the non-negative big-endian integer `magnitude`: minimal, with a leading zero byte when the
    /// high bit is set, and empty for zero.
    package mutating func writeMPInt(unsigned magnitude: some Collection<UInt8>) {
        let minimal = Array(magnitude.drop(while: { $0 == 0 }))
        writeString(minimal.first.map { $0 & 0x80 != 0 } == true ? [0] + minimal : minimal)
    }

    /// `bytes` with zeros before them up to `count` bytes; `bytes` itself if it is as long already.
    package static func leftPadded(_ bytes: [UInt8], to count: Int) -> [UInt8] {
        [UInt8](repeating: 0, count: max(0, count - bytes.count)) + bytes
    }
}
