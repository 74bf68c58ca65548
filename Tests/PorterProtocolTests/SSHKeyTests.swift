import Foundation
import PorterProtocol
import Testing

/// OpenSSH's key formats: keys Porter makes and keys `ssh-keygen` makes read each other's files, fingerprints
/// match `ssh-keygen -l`, signatures verify, and no input, however broken, traps.
@Suite struct SSHKeyTests {
    static let algorithms = SSHPublicKey.Algorithm.allCases

    @Test(arguments: algorithms)
    func aGeneratedKeyRoundTripsThroughItsFile(_ algorithm: SSHPublicKey.Algorithm) throws {
        let key = SSHKeyTestTools.generate(algorithm, comment: "me@host")
        let text = key.openSSHText()
        #expect(text.hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----\n"))
        #expect(text.hasSuffix("\n-----END OPENSSH PRIVATE KEY-----\n"))
        let lines = text.split(separator: "\n").dropFirst().dropLast()
        #expect(lines.dropLast().allSatisfy { $0.count == 70 })
        #expect((1...70).contains(lines.last?.count ?? 0))
        let parsed = try SSHPrivateKey(openSSH: text)
        #expect(parsed.publicKey == key.publicKey)
        #expect(parsed.algorithm == algorithm)
        #expect(parsed.comment == "me@host")
        let data = Array("to be signed".utf8)
        #expect(key.publicKey.isValidSignature(try parsed.signature(for: data), for: data))
        #expect(parsed.publicKey.isValidSignature(try key.signature(for: data), for: data))
    }

    @Test(arguments: algorithms)
    func aPublicLineRoundTrips(_ algorithm: SSHPublicKey.Algorithm) throws {
        let key = SSHKeyTestTools.generate(algorithm).publicKey
        let line = key.openSSHLine(comment: "a comment with spaces")
        #expect(line.hasPrefix(algorithm.rawValue + " AAAA"))
        let parsed = try SSHPublicKey.parse(openSSHLine: "  " + line + "\r\n")
        #expect(parsed.key == key)
        #expect(parsed.comment == "a comment with spaces")
        #expect(try SSHPublicKey(openSSH: line) == key)
        #expect(try SSHPublicKey(blob: key.blob) == key)

        let bare = key.openSSHLine(comment: "")
        #expect(bare.split(separator: " ").count == 2)
        #expect(try SSHPublicKey.parse(openSSHLine: bare).comment == "")
        #expect(try SSHPublicKey.parse(openSSHLine: bare.replacingOccurrences(of: " ", with: "\t")).key == key)

        // A comment cannot smuggle a second line into an authorized_keys file.
        let flattened = key.openSSHLine(comment: "one\nssh-ed25519 AAAA two\r")
        #expect(!flattened.contains("\n") && !flattened.contains("\r"))
        #expect(try SSHPublicKey.parse(openSSHLine: flattened).comment == "one ssh-ed25519 AAAA two")
    }

    @Test(
        .enabled(if: SSHKeyTestTools.sshKeygenAvailable),
        arguments: [["-t", "ed25519"], ["-t", "ecdsa", "-b", "256"]])
    func keysMadeBySSHKeygenParse(_ type: [String]) throws {
        try SSHKeyTestTools.withTemporaryDirectory { directory in
            let file = directory + "/key"
            try SSHKeyTestTools.run(["ssh-keygen", "-q"] + type + ["-N", "", "-C", "made by keygen", "-f", file])
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let key = try SSHPrivateKey(openSSH: text)
            #expect(key.comment == "made by keygen")
            #expect(key.algorithm == (type[1] == "ed25519" ? .ed25519 : .ecdsaP256))

            let publicLine = try String(contentsOfFile: file + ".pub", encoding: .utf8)
            let parsed = try SSHPublicKey.parse(openSSHLine: publicLine)
            #expect(parsed.key == key.publicKey)
            #expect(parsed.comment == "made by keygen")
            #expect(key.publicKey.openSSHLine(comment: "made by keygen") + "\n" == publicLine)

            let listed = try SSHKeyTestTools.run(["ssh-keygen", "-l", "-E", "sha256", "-f", file + ".pub"])
            let fields = listed.split(separator: " ")
            #expect(fields.count >= 2)
            #expect(fields.count >= 2 && String(fields[1]) == key.publicKey.fingerprint)

            // Written again, the file is ssh-keygen's byte for byte but for the random check number.
            let rewritten = key.openSSHText()
            #expect(rewritten.split(separator: "\n").map(\.count) == text.split(separator: "\n").map(\.count))
            #expect(try SSHKeyTestTools.withoutCheckNumber(rewritten) == SSHKeyTestTools.withoutCheckNumber(text))

            let data = Array("signed by a keygen key".utf8)
            #expect(parsed.key.isValidSignature(try key.signature(for: data), for: data))
        }
    }

    @Test(.enabled(if: SSHKeyTestTools.sshKeygenAvailable), arguments: algorithms)
    func sshKeygenReadsKeysPorterWrote(_ algorithm: SSHPublicKey.Algorithm) throws {
        try SSHKeyTestTools.withTemporaryDirectory { directory in
            let key = SSHKeyTestTools.generate(algorithm, comment: "porter@test")
            let file = directory + "/key"
            try SSHKeyTestTools.writePrivate(key.openSSHText(), to: file)
            let derived = try SSHKeyTestTools.run(["ssh-keygen", "-y", "-f", file])
            #expect(derived == key.publicKey.openSSHLine(comment: "porter@test") + "\n")
            let listed = try SSHKeyTestTools.run(["ssh-keygen", "-l", "-E", "sha256", "-f", file])
            #expect(listed.split(separator: " ").dropFirst().first.map(String.init) == key.publicKey.fingerprint)
        }
    }

    @Test(
        .enabled(if: SSHKeyTestTools.sshKeygenAvailable),
        arguments: [["-t", "ed25519"], ["-t", "ecdsa", "-b", "256"]])
    func aPassphraseKeySaysToUseTheAgent(_ type: [String]) throws {
        try SSHKeyTestTools.withTemporaryDirectory { directory in
            let file = directory + "/key"
            try SSHKeyTestTools.run(["ssh-keygen", "-q"] + type + ["-N", "secret", "-C", "c", "-f", file])
            let error = try SSHKeyTestTools.keyError {
                try SSHPrivateKey(openSSH: String(contentsOfFile: file, encoding: .utf8))
            }
            #expect(error.kind == .encrypted)
            #expect(error.message.contains("passphrase"))
            #expect(error.message.contains("ssh-add"))
        }
    }

    @Test(.enabled(if: SSHKeyTestTools.sshKeygenAvailable))
    func otherKeyTypesAreUnsupported() throws {
        try SSHKeyTestTools.withTemporaryDirectory { directory in
            let cases: [(arguments: [String], marker: String)] = [
                (["-t", "rsa", "-b", "1024"], "BEGIN OPENSSH PRIVATE KEY"),
                (["-t", "rsa", "-b", "1024", "-m", "PEM"], "BEGIN RSA PRIVATE KEY"),
                (["-t", "ecdsa", "-b", "384"], "BEGIN OPENSSH PRIVATE KEY"),
                (["-t", "ecdsa", "-b", "256", "-m", "PEM"], "BEGIN EC PRIVATE KEY"),
            ]
            for (number, (arguments, marker)) in cases.enumerated() {
                let file = directory + "/key\(number)"
                try SSHKeyTestTools.run(["ssh-keygen", "-q"] + arguments + ["-N", "", "-C", "c", "-f", file])
                let text = try String(contentsOfFile: file, encoding: .utf8)
                #expect(text.contains(marker))
                let error = try SSHKeyTestTools.keyError { try SSHPrivateKey(openSSH: text) }
                #expect(error.kind == .unsupported, "\(arguments): \(error)")
                if arguments.contains("rsa") { #expect(error.message.contains("only Ed25519 and ECDSA P-256")) }
                let line = try String(contentsOfFile: file + ".pub", encoding: .utf8)
                if arguments.contains("256") {
                    // The key is P-256, only its file format is not: its public line is fine.
                    #expect(try SSHPublicKey(openSSH: line).algorithm == .ecdsaP256)
                } else {
                    let publicError = try SSHKeyTestTools.keyError { try SSHPublicKey(openSSH: line) }
                    #expect(publicError.kind == .unsupported)
                }
            }
        }
    }

    @Test func otherFilesAreTold() throws {
        let publicLine = SSHPrivateKey.generateEd25519().publicKey.openSSHLine(comment: "c")
        #expect(try SSHKeyTestTools.keyError { try SSHPrivateKey(openSSH: publicLine) }.message.contains("public key"))
        let putty = "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n"
        #expect(try SSHKeyTestTools.keyError { try SSHPrivateKey(openSSH: putty) }.kind == .unsupported)
        #expect(try SSHKeyTestTools.keyError { try SSHPrivateKey(openSSH: "") }.kind == .malformed)
        let huge = String(repeating: "A", count: SSHPrivateKey.maximumTextSize + 1)
        #expect(try SSHKeyTestTools.keyError { try SSHPrivateKey(openSSH: huge) }.message.contains("larger"))
        let noEnd = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n"
        #expect(try SSHKeyTestTools.keyError { try SSHPrivateKey(openSSH: noEnd) }.message.contains("END"))
        let notBase64 = "-----BEGIN OPENSSH PRIVATE KEY-----\n*!*\n-----END OPENSSH PRIVATE KEY-----\n"
        #expect(try SSHKeyTestTools.keyError { try SSHPrivateKey(openSSH: notBase64) }.kind == .malformed)
    }

    @Test func aLineNamingAnotherTypeIsRejected() throws {
        let ed25519 = SSHPrivateKey.generateEd25519().publicKey.openSSHLine()
        let lying = "ecdsa-sha2-nistp256 " + ed25519.split(separator: " ")[1]
        let error = try SSHKeyTestTools.keyError { try SSHPublicKey(openSSH: lying) }
        #expect(error.kind == .malformed)
        #expect(error.message.contains("ssh-ed25519"))
        for bad in ["", "ssh-ed25519", "ssh-ed25519 !!!!", "from=\"x\" " + ed25519, "ssh-rsa AAAAB3NzaC1yc2E="] {
            #expect(throws: SSHKeyError.self) { try SSHPublicKey(openSSH: bad) }
        }
    }

    @Test func theFingerprintIsSHA256OfTheBlob() throws {
        // RFC 8032 section 7.1, test 1: the public key and the signature of the empty message.
        let publicKey = SSHKeyTestTools.bytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        var blob = SSHKeyTestTools.string(Array("ssh-ed25519".utf8))
        blob += SSHKeyTestTools.string(publicKey)
        let key = try SSHPublicKey(blob: blob)
        #expect(key.rawRepresentation == publicKey)
        #expect(key.blob == blob)
        #expect(key.fingerprint.hasPrefix("SHA256:"))
        #expect(!key.fingerprint.hasSuffix("="))
        #expect(key.fingerprint.count == "SHA256:".count + 43)
        let signature = try SSHSignature(
            ed25519: SSHKeyTestTools.bytes(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25"
                    + "bf5f0595bbe24655141438e7a100b"))
        #expect(key.isValidSignature(signature, for: [UInt8]()))
        #expect(!key.isValidSignature(signature, for: [0]))
        #expect(try SSHSignature(blob: signature.blob) == signature)
    }

    @Test(arguments: algorithms)
    func signaturesFailOnOtherDataOrKeys(_ algorithm: SSHPublicKey.Algorithm) throws {
        let key = SSHKeyTestTools.generate(algorithm)
        let data = Array("the exact bytes".utf8)
        let signature = try key.signature(for: data)
        #expect(signature.algorithm == algorithm)
        #expect(key.publicKey.isValidSignature(signature, for: data))
        #expect(try SSHSignature(blob: signature.blob) == signature)
        #expect(!key.publicKey.isValidSignature(signature, for: Array("the exact bytez".utf8)))
        #expect(!key.publicKey.isValidSignature(signature, for: data + [0]))
        #expect(!SSHKeyTestTools.generate(algorithm).publicKey.isValidSignature(signature, for: data))
        let other: SSHPublicKey.Algorithm = algorithm == .ed25519 ? .ecdsaP256 : .ed25519
        #expect(!SSHKeyTestTools.generate(other).publicKey.isValidSignature(signature, for: data))
        var flipped = signature.rawRepresentation
        flipped[10] ^= 1
        let altered = try algorithm == .ed25519 ? SSHSignature(ed25519: flipped) : SSHSignature(p256: flipped)
        #expect(!key.publicKey.isValidSignature(altered, for: data))
    }

    @Test func p256IntegersAreMinimalMPInts() throws {
        let highBit = [0x80] + [UInt8](repeating: 0x11, count: 31)
        let leadingZero = [0x00, 0x7F] + [UInt8](repeating: 0x22, count: 30)
        let zero = [UInt8](repeating: 0, count: 32)
        let signature = try SSHSignature(p256: highBit + leadingZero)
        let integers =
            SSHKeyTestTools.string([0x00] + highBit) + SSHKeyTestTools.string(Array(leadingZero.dropFirst()))
        let expected = SSHKeyTestTools.string(Array("ecdsa-sha2-nistp256".utf8)) + SSHKeyTestTools.string(integers)
        #expect(signature.blob == expected)
        #expect(try SSHSignature(blob: expected) == signature)

        let zeroes = try SSHSignature(p256: zero + zero)
        #expect(zeroes.blob.suffix(12) == [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(try SSHSignature(blob: zeroes.blob) == zeroes)

        // Needless leading zeros are read (as OpenSSH reads them) and written minimal again.
        let padded = SSHKeyTestTools.string([0, 0] + highBit) + SSHKeyTestTools.string(leadingZero)
        let paddedBlob = SSHKeyTestTools.string(Array("ecdsa-sha2-nistp256".utf8)) + SSHKeyTestTools.string(padded)
        #expect(try SSHSignature(blob: paddedBlob).blob == expected)

        let negative = SSHKeyTestTools.string(highBit) + SSHKeyTestTools.string(leadingZero)
        let tooLong = SSHKeyTestTools.string([1] + highBit) + SSHKeyTestTools.string(leadingZero)
        for integers in [negative, tooLong] {
            let blob = SSHKeyTestTools.string(Array("ecdsa-sha2-nistp256".utf8)) + SSHKeyTestTools.string(integers)
            #expect(throws: SSHKeyError.self) { try SSHSignature(blob: blob) }
        }
        #expect(throws: SSHKeyError.self) { try SSHSignature(p256: zero) }
        #expect(throws: SSHKeyError.self) { try SSHSignature(ed25519: zero + zero + [0]) }
    }

    @Test func manyP256SignaturesSurviveTheirBlobs() throws {
        let key = SSHPrivateKey.generateP256()
        var highBits = 0
        for round in 0..<200 {
            let data = Array("message \(round)".utf8)
            let signature = try key.signature(for: data)
            if signature.rawRepresentation[0] & 0x80 != 0 || signature.rawRepresentation[32] & 0x80 != 0 {
                highBits += 1
            }
            let parsed = try SSHSignature(blob: signature.blob)
            #expect(parsed == signature)
            #expect(key.publicKey.isValidSignature(parsed, for: data))
        }
        #expect(highBits > 0)
    }

    @Test func aPointOffTheCurveIsRejected() throws {
        let point = [0x04] + [UInt8](repeating: 1, count: 64)
        let blob =
            SSHKeyTestTools.string(Array("ecdsa-sha2-nistp256".utf8)) + SSHKeyTestTools.string(Array("nistp256".utf8))
            + SSHKeyTestTools.string(point)
        let error = try SSHKeyTestTools.keyError { try SSHPublicKey(blob: blob) }
        #expect(error.message.contains("curve"))
        let valid = SSHPrivateKey.generateP256().publicKey.blob
        let otherCurve = Array(valid[0..<27]) + Array("nistp384".utf8) + Array(valid[35...])
        #expect(throws: SSHKeyError.self) { try SSHPublicKey(blob: otherCurve) }
    }

    @Test func damagedPrivateKeysAreRejected() throws {
        for algorithm in Self.algorithms {
            let binary = try SSHKeyTestTools.body(SSHKeyTestTools.generate(algorithm).openSSHText())
            let publicLength = binary[39..<43].reduce(0) { $0 << 8 | Int($1) }
            let checkNumber = 47 + publicLength
            var wrongCheck = binary
            wrongCheck[checkNumber] ^= 1
            var wrongPadding = binary
            wrongPadding[binary.count - 1] ^= 0x40
            var wrongSecret = binary
            wrongSecret[binary.count - 20] ^= 1
            for damaged in [wrongCheck, wrongPadding, wrongSecret, binary + [0]] {
                #expect(throws: SSHKeyError.self) {
                    try SSHPrivateKey(openSSH: SSHKeyTestTools.pem(damaged))
                }
            }
        }
    }

    /// Every prefix of valid input, random bytes and random changes of valid input throw or parse: never trap.
    @Test func brokenInputNeverTraps() throws {
        var generator = SplitMix(seed: 0x5353_484B_6579)
        var valid: [[UInt8]] = []
        var privateBodies: [[UInt8]] = []
        for algorithm in Self.algorithms {
            let key = SSHKeyTestTools.generate(algorithm, comment: "fuzz")
            valid.append(key.publicKey.blob)
            valid.append(try key.signature(for: [1, 2, 3]).blob)
            privateBodies.append(try SSHKeyTestTools.body(key.openSSHText()))
        }
        for blob in valid {
            for count in 0..<blob.count {
                let prefix = Array(blob.prefix(count))
                #expect(throws: SSHKeyError.self) { try SSHPublicKey(blob: prefix) }
                #expect(throws: SSHKeyError.self) { try SSHSignature(blob: prefix) }
            }
            #expect(throws: SSHKeyError.self) { try SSHPublicKey(blob: blob + [0]) }
            #expect(throws: SSHKeyError.self) { try SSHSignature(blob: blob + [0]) }
        }
        for body in privateBodies {
            for count in 0..<body.count {
                #expect(throws: SSHKeyError.self) {
                    try SSHPrivateKey(openSSH: SSHKeyTestTools.pem(Array(body.prefix(count))))
                }
            }
        }
        for _ in 0..<2000 {
            let random = (0..<Int.random(in: 0..<200, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            _ = try? SSHPublicKey(blob: random)
            _ = try? SSHSignature(blob: random)
            _ = try? SSHPrivateKey(openSSH: SSHKeyTestTools.pem(random))
            _ = try? SSHPublicKey(openSSH: String(decoding: random, as: UTF8.self))
            for original in valid + privateBodies {
                var changed = original
                for _ in 0..<Int.random(in: 1...3, using: &generator) {
                    changed[Int.random(in: 0..<changed.count, using: &generator)] = UInt8.random(
                        in: 0...255, using: &generator)
                }
                _ = try? SSHPublicKey(blob: changed)
                _ = try? SSHSignature(blob: changed)
                _ = try? SSHPrivateKey(openSSH: SSHKeyTestTools.pem(changed))
            }
        }
    }
}

/// Helpers for ``SSHKeyTests``: running ssh-keygen, temporary files, and wire-format bytes.
enum SSHKeyTestTools {
    /// Whether `ssh-keygen` can run here; CI sets `PORTER_REQUIRE_TOOLS=1` to make a missing tool fail.
    static var sshKeygenAvailable: Bool {
        ProcessInfo.processInfo.environment["PORTER_REQUIRE_TOOLS"] == "1"
            || FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen")
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func generate(_ algorithm: SSHPublicKey.Algorithm, comment: String = "") -> SSHPrivateKey {
        algorithm == .ed25519 ? .generateEd25519(comment: comment) : .generateP256(comment: comment)
    }

    /// Runs `arguments` from /usr/bin and returns its standard output; throws if it fails.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/" + arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                description: "\(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): "
                    + String(decoding: errorData, as: UTF8.self))
        }
        return String(decoding: outputData, as: UTF8.self)
    }

    static func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "porter-sshkey-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    /// Writes `text` to a new file only its owner can read, as ssh tools require of private keys.
    static func writePrivate(_ text: String, to path: String) throws {
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw Failure(description: "cannot write \(path)") }
    }

    /// The error `body` throws, or a failure if it throws none.
    static func keyError<Value>(_ body: () throws -> Value) throws -> SSHKeyError {
        do {
            _ = try body()
        } catch let error as SSHKeyError {
            return error
        }
        throw Failure(description: "no error thrown")
    }

    /// The decoded body of a PEM text.
    static func body(_ text: String) throws -> [UInt8] {
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }
        guard let data = Data(base64Encoded: lines.joined()) else { throw Failure(description: "not base64") }
        return Array(data)
    }

    /// `bytes` in an OpenSSH private key PEM text.
    static func pem(_ bytes: [UInt8]) -> String {
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" + Data(bytes).base64EncodedString()
            + "\n-----END OPENSSH PRIVATE KEY-----\n"
    }

    /// The decoded body of an OpenSSH private key text with its two check numbers zeroed.
    static func withoutCheckNumber(_ text: String) throws -> [UInt8] {
        var binary = try body(text)
        // The magic (15 bytes), "none", "none", "" (20), the key count (4), the public key, the section's length.
        let publicLength = binary[39..<43].reduce(0) { $0 << 8 | Int($1) }
        let checkNumbers = 43 + publicLength + 4
        for index in checkNumbers..<checkNumbers + 8 { binary[index] = 0 }
        return binary
    }

    /// An SSH `string`.
    static func string(_ bytes: [UInt8]) -> [UInt8] {
        let count = UInt32(bytes.count)
        return [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: count >> $0) } + bytes
    }

    static func bytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
