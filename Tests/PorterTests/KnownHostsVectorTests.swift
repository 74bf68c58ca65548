import Foundation
import Porter
import PorterProtocol
import Testing

/// The fingerprint lines of docs/design/protocol-2.md section 10.3 (PorterProtocolTests checks that each is its
/// certificate's), read back from a known-hosts file.
@Suite struct KnownHostsVectorTests {
    static let p256 = "SHA256:VBatczqgDgKC+JJoaR+ja8oTVhx845J6sx00skJXU0E"
    static let p384 = "SHA256:qBNRzgWiuNn3MWszZKGZiJBa9Gy4YKV/8wcMbjGIuHg"

    @Test func theVectorFingerprintsParseFromAKnownHostsFile() throws {
        let directory = NSTemporaryDirectory() + "porter-vectors-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/known_hosts"
        try "# vectors\n127.0.0.1:7070 \(Self.p256)\n[::1]:7070\t\(Self.p384)\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        let knownHosts = KnownHosts(path: path)
        let p256 = try #require(Fingerprint(Self.p256))
        let p384 = try #require(Fingerprint(Self.p384))
        #expect(p256.description == Self.p256 && p384.description == Self.p384)
        #expect(try knownHosts.verdict(for: "127.0.0.1:7070", presenting: p256) == .known)
        #expect(try knownHosts.verdict(for: "[::1]:7070", presenting: p384) == .known)
        #expect(try knownHosts.verdict(for: "127.0.0.1:7070", presenting: p384) == .changed(line: 2, recorded: p256))
    }
}
