import Crypto
import Foundation
import NIOCore
import PorterProtocol
import Testing

/// The vectors of docs/design/protocol-2.md sections 10.2 to 10.4, computed and decoded with Porter's own code.
@Suite struct ProtocolVectorTests {
    @Test func theProofsAreThoseOfTheTable() throws {
        let der = try ProtocolVectors.p256.der()
        for vector in ProtocolVectors.proofs {
            let proofs = AuthProof(
                token: ProtocolVectors.token, clientNonce: ProtocolVectors.clientNonce,
                serverNonce: ProtocolVectors.serverNonce,
                binding: vector.bound ? ChannelBinding.serverEndPoint(certificateDER: der) : [])
            let role = try #require(AuthProof.Role(rawValue: vector.role))
            let proof = proofs.proof(for: role)
            #expect(FrameVectors.hex(proof).replacingOccurrences(of: " ", with: "") == vector.hex)
            #expect(Data(proof).base64EncodedString() == vector.base64)
            #expect(proofs.verify(proof, for: role))
        }
    }

    /// docs/PROTOCOL.md section 7.2, method `publickey`.
    @Test func theKeyProofIsThatOfTheTable() throws {
        let key = SSHPrivateKey(try Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 3, count: 32)))
        let publicKey = key.publicKey
        #expect(
            publicKey.openSSHLine()
                == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR")
        #expect(publicKey.fingerprint == "SHA256:zbv/nU7iZdO0fB0DalMI70dP6/yFD8sctXvvW4+OokY")
        let transcript = PublicKeyProof.transcript(
            clientNonce: ProtocolVectors.clientNonce, serverNonce: ProtocolVectors.serverNonce, binding: [],
            key: publicKey)
        #expect(transcript.count == 154)
        #expect(
            SHA256.hash(data: transcript).map { String(format: "%02x", $0) }.joined()
                == "4d843e80f1316cf7dfa1db38e64f3a19c8609588bcf09b47ed05ff8ebde30709")
        let auth = """
            {"key":"AAAAC3NzaC1lZDI1NTE5AAAAIO1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR","method":"publickey",\
            "proof":"AAAAC3NzaC1lZDI1NTE5AAAAQI4ZMOFKFu6ERie+jIO64xFI2mMwPWsZJpcnuHFZLhCNQLmVHA+T6XcNU5ZSGOD4XD1AyanAutzK4rXezK3o3wc=",\
            "type":"auth"}
            """
        guard case .auth(let decoded) = try ConnectionMessage(payload: ByteBuffer(string: auth)) else {
            Issue.record("not an auth")
            return
        }
        let signature = try SSHSignature(blob: decoded.proof.bytes)
        #expect(publicKey.isValidSignature(signature, for: transcript))
        // Ed25519 is deterministic: Porter makes the very same signature and message.
        let made = try key.signature(for: transcript)
        #expect(made == signature)
        let message = ConnectionMessage.auth(
            .init(method: PublicKeyProof.method, key: .init(publicKey.blob), proof: .init(made.blob)))
        #expect(String(buffer: message.payload) == auth)
    }

    @Test(arguments: [ProtocolVectors.p256, ProtocolVectors.p384])
    func certificatesHaveTheirFingerprintsAndBindings(_ vector: ProtocolVectors.Certificate) throws {
        let der = try vector.der()
        #expect(der.count == vector.derLength)
        let subjectPublicKeyInfo = try DER.subjectPublicKeyInfo(ofCertificate: der)
        #expect(subjectPublicKeyInfo.count == vector.subjectPublicKeyInfoLength)
        let fingerprint = Fingerprint(subjectPublicKeyInfo: subjectPublicKeyInfo)
        #expect(fingerprint.description == vector.fingerprint)
        #expect(Fingerprint(vector.fingerprint) == fingerprint)
        let binding = ChannelBinding.serverEndPoint(certificateDER: der)
        #expect(FrameVectors.hex(binding).replacingOccurrences(of: " ", with: "") == vector.binding)
    }

    /// Both directions of the transcript decode as streams, the form switching after `hello` and `welcome`, into
    /// exactly the frames of the table; every control payload decodes as its message and re-encodes to an equal one.
    @Test func theExecTranscriptDecodesFrameByFrame() throws {
        let lines = ProtocolVectors.transcript.split(separator: "\n")
        #expect(lines.count == 16)
        var frames: [(client: Bool, frame: Frame)] = []
        var streams = [true: ByteBuffer(), false: ByteBuffer()]
        var decoders = [true: FrameDecoder(), false: FrameDecoder()]
        for line in lines {
            let client = line.hasPrefix("C ")
            #expect(client || line.hasPrefix("S "))
            streams[client]!.writeBytes(FrameVectors.bytes(String(line.dropFirst(2))))
            let frame = try #require(try decoders[client]!.decode(buffer: &streams[client]!))
            #expect(streams[client]!.readableBytes == 0, "line \(line.prefix(20)) holds more than one frame")
            let form = decoders[client]!.form
            #expect(Array(frame.encoded(form: form).readableBytesView) == FrameVectors.bytes(String(line.dropFirst(2))))
            // hello and welcome are the handshake form; every later frame in each direction is the channel form.
            decoders[client]!.form = .channels
            frames.append((client, frame))
        }
        #expect(
            frames.map(\.client) == [
                true, false, true, false, true, false, true, true, true, false, false, false, false, false, false, true,
            ])
        try checkMessages(frames.map(\.frame))
    }

    private func checkMessages(_ frames: [Frame]) throws {
        let binding = ChannelBinding.serverEndPoint(certificateDER: try ProtocolVectors.p256.der())
        let proofs = AuthProof(
            token: ProtocolVectors.token, clientNonce: ProtocolVectors.clientNonce,
            serverNonce: ProtocolVectors.serverNonce, binding: binding)
        let expected: [ConnectionMessage?] = [
            .hello(
                .init(
                    versions: [2], agent: "porter/0.2.0", nonce: .init(ProtocolVectors.clientNonce),
                    limits: FrameLimits())),
            .welcome(
                .init(
                    version: 2, agent: "porter/0.2.0", server: "myhost", nonce: .init(ProtocolVectors.serverNonce),
                    auth: [AuthProof.method], limits: ConnectionMessage.Limits())),
            .auth(.init(method: AuthProof.method, proof: .init(proofs.proof(for: .client)))),
            .ready(.init(proof: .init(proofs.proof(for: .server)))),
            nil, nil, nil, .ping(.init(id: 7)), nil, .pong(.init(id: 7)),
        ]
        for (index, message) in expected.enumerated() {
            guard let message else { continue }
            let decoded = try ConnectionMessage(frame: frames[index])
            #expect(decoded == message, "frame \(index + 1)")
            #expect(decoded.payload.readableBytes == frames[index].payload.readableBytes)
        }
        let channelMessages: [Int: ChannelMessage] = [
            4: .open(.init(window: 1_048_576, parameters: .exec(.init(argv: ["sh", "-c", "cat; echo done >&2"])))),
            5: .accept(.init(window: 262_144, details: .exec(pid: 4242))),
            13: .execExit(.init(status: 0, signal: nil, signalNumber: nil, timedOut: false, duration: 0.0042)),
        ]
        for (index, message) in channelMessages {
            let frame = frames[index]
            #expect(frame.channel == 1)
            let decoded = try ChannelMessage(frame: frame, service: index == 4 ? nil : .exec)
            #expect(decoded == message, "frame \(index + 1)")
            #expect(decoded.payload.readableBytes == frame.payload.readableBytes)
            #expect(try ChannelMessage(payload: decoded.payload, service: .exec) == decoded)
        }
        let data: [Int: (Frame.Stream, String)] = [6: (.main, "hi\n"), 10: (.output, "hi\n"), 11: (.error, "done\n")]
        for (index, (stream, text)) in data {
            #expect(frames[index] == .data(ByteBuffer(string: text), stream: stream, channel: 1))
        }
        for index in [8, 12] { #expect(frames[index] == .eof(channel: 1)) }
        for index in [14, 15] { #expect(frames[index] == .close(channel: 1)) }
    }
}

extension ProtocolVectors.Certificate: CustomTestStringConvertible {
    var testDescription: String { name }

    /// The certificate's DER, from its PEM.
    func der() throws -> [UInt8] {
        let body = pem.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.hasPrefix("-----") }.joined()
        return try #require(Data(base64Encoded: body)).map { $0 }
    }
}

/// Just enough DER to find a certificate's SubjectPublicKeyInfo (RFC 5280: Certificate → TBSCertificate → its
/// seventh element, or sixth without the explicit version).
enum DER {
    struct Malformed: Error {}

    /// The element at `offset`: where its contents start and end.
    static func element(in bytes: [UInt8], at offset: Int) throws -> (tag: UInt8, contents: Range<Int>) {
        guard offset + 2 <= bytes.count else { throw Malformed() }
        var length = Int(bytes[offset + 1])
        var start = offset + 2
        if length & 0x80 != 0 {
            let count = length & 0x7F
            guard count <= 4, start + count <= bytes.count else { throw Malformed() }
            length = bytes[start..<start + count].reduce(0) { $0 << 8 | Int($1) }
            start += count
        }
        guard start + length <= bytes.count else { throw Malformed() }
        return (bytes[offset], start..<start + length)
    }

    static func subjectPublicKeyInfo(ofCertificate certificate: [UInt8]) throws -> [UInt8] {
        let tbs = try element(in: certificate, at: try element(in: certificate, at: 0).contents.lowerBound)
        var offset = tbs.contents.lowerBound
        var index = 0
        let first = try element(in: certificate, at: offset)
        // [0] EXPLICIT version, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo.
        let spkiIndex = first.tag == 0xA0 ? 6 : 5
        while true {
            let current = try element(in: certificate, at: offset)
            if index == spkiIndex { return Array(certificate[offset..<current.contents.upperBound]) }
            offset = current.contents.upperBound
            index += 1
        }
    }
}
