import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// `get`, `put` and `ls` through the library, against an in-process server whose root is a fresh directory.
@Suite(.timeLimit(.minutes(2))) struct FileTests {
    /// Runs a server whose root is a fresh directory `root/served`, beside an unserved `root/outside`.
    private func withFileServer(
        plaintext: Bool = false,
        _ body: @Sendable (TestServer, _ served: String, _ outside: String, _ local: String) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { base in
            let served = base + "/served"
            let outside = base + "/outside"
            let local = base + "/local"
            for directory in [served, outside, local] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            try await withTestServer(plaintext: plaintext, configure: { $0.root = served }) { server in
                try await body(server, served, outside, local)
            }
        }
    }

    /// Digests match the reference tools (`xxh128sum`, `sha256sum`; values from python-xxhash and hashlib) however
    /// the bytes are split into updates.
    @Test func digestsMatchTheReferenceImplementations() {
        let data = (0..<3_000_001).map { UInt8($0 * 7 % 251) }
        let vectors: [(Int, String, String)] = [
            (0, "99aa06d3014798d86001c324468d497f", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (
                240, "17ffe035d71c1ec8e6bf81617aad6c4a",
                "eef737eca27f3e5d58688a0be14282e452852e13da8adabfe1f7a35b2d0e3ce0"
            ),
            (
                241, "29bc1e9cffb6d79bc614c8c3575348c1",
                "7e908b6808bea2ab2f8f1ce37de104df8aae239108acba757fd2efac0a421766"
            ),
            (
                3_000_001, "3f0feb1ade505c945e88ba2a8baec4a8",
                "7f63a760999c34dc629876f040c8a4c73e01b231b04862eceb46e182de943095"
            ),
        ]
        for (count, xxh128, sha256) in vectors {
            for (algorithm, expected) in [(ControlMessage.Checksum.xxh128, xxh128), (.sha256, sha256)] {
                var whole = FileDigest(algorithm)
                var pieces = FileDigest(algorithm)
                data[..<count].withUnsafeBytes { bytes in
                    whole.update(bytes)
                    var start = 0
                    for size in [1, 63, 64, 1000, 1 << 20] where start < count {
                        let end = min(start + size, count)
                        pieces.update(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                        start = end
                    }
                    pieces.update(UnsafeRawBufferPointer(rebasing: bytes[start...]))
                }
                #expect(whole.hex == expected, "\(algorithm) of \(count) bytes")
                #expect(pieces.hex == expected, "\(algorithm) of \(count) bytes in pieces")
            }
        }
    }

    @Test func filesRoundTripByteForByteWithModeAndTime() async throws {
        try await withFileServer { server, served, _, local in
            let cases: [(String, Int)] = [
                ("empty", 0), ("one byte", 1), ("random 100 MB.bin", 100_000_000), ("ünïcødé — 名前.txt", 4097),
            ]
            try await server.withClient { connection in
                for (name, size) in cases {
                    let source = local + "/" + name
                    try writeRandomFile(source, count: size)
                    chmod(source, 0o640)
                    var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 123_456_789)]
                    times.append(times[0])
                    utimensat(AT_FDCWD, source, times, 0)
                    // SHA-256 on request, so the digests can be compared with an independent implementation.
                    let options = TransferOptions(checksum: size == 4097 ? .xxh128 : .sha256)
                    let put = try await connection.upload(source, to: name, options: options)
                    #expect(put.bytes == Int64(size))
                    #expect(sha256(of: served + "/" + name) == sha256(of: source))
                    if options.checksum == .sha256 { #expect(put.digest == sha256(of: source)) }
                    let back = local + "/back-" + name
                    let got = try await connection.download(name, to: back, options: options)
                    #expect(got.digest == put.digest)
                    #expect(sha256(of: back) == sha256(of: source), "\(name)")
                    for path in [served + "/" + name, back] {
                        var status = stat()
                        stat(path, &status)
                        #expect(status.st_mode & 0o7777 == 0o640, "\(path)")
                        #expect(status.st_mtim.tv_sec == 1_600_000_000 && status.st_mtim.tv_nsec == 123_456_789)
                    }
                }
                let listing = try await connection.list(".")
                #expect(listing.type == .directory)
                #expect(Set(listing.entries.map(\.path)) == Set(cases.map(\.0)))
                #expect(listing.entries.first { $0.path == "one byte" }?.size == 1)
            }
            #expect(tree(served).allSatisfy { !$0.hasSuffix(IncomingFile.partSuffix) })
        }
    }

    @Test func setuidBitsFromThePeerAreMasked() async throws {
        try await withFileServer { server, served, _, local in
            try writeRandomFile(local + "/tool", count: 10)
            chmod(local + "/tool", 0o6755)
            try await server.withClient { connection in
                _ = try await connection.upload(local + "/tool", to: "tool")
            }
            var status = stat()
            stat(served + "/tool", &status)
            #expect(status.st_mode & 0o7777 == 0o755)
        }
    }

    @Test func aCorruptedByteInADownloadIsDetectedAndNothingIsKept() async throws {
        try await withFileServer(plaintext: true) { server, served, _, local in
            try writeRandomFile(served + "/data", count: 8_000_000)
            try await withRelay(to: server.endpoint, corrupt: flipByte(at: 3_000_000, toClient: true)) { relay in
                try await server.withClient(at: relay) { connection in
                    await #expect(throws: PorterError.self) {
                        _ = try await connection.download("data", to: local + "/data")
                    }
                }
            }
            #expect(tree(local).isEmpty, "nothing under the final name, no partial file left")
        }
    }

    @Test func aCorruptedByteInAnUploadIsDetectedAndNothingIsKept() async throws {
        try await withFileServer(plaintext: true) { server, served, _, local in
            try writeRandomFile(local + "/data", count: 8_000_000)
            try await withRelay(to: server.endpoint, corrupt: flipByte(at: 3_000_000, toClient: false)) { relay in
                try await server.withClient(at: relay) { connection in
                    do {
                        _ = try await connection.upload(local + "/data", to: "data")
                        Issue.record("a corrupted upload was accepted")
                    } catch let error as PorterError {
                        #expect(error.code == .digestMismatch)
                        #expect(error.kind == .refused)
                    }
                    // The connection goes on after the refusal.
                    _ = try await connection.ping()
                }
            }
            #expect(tree(served).isEmpty)
        }
    }

    @Test func anUploadWaitsBrieflyForAPartialFileAnotherTransferHolds() async throws {
        try await withFileServer(plaintext: true) { server, served, _, local in
            try writeRandomFile(local + "/data", count: 100_000)
            // Another transfer's hold on the partial file: released after a moment, the upload goes ahead. (The
            // descriptors are close-on-exec, or a command another test spawns meanwhile would keep the lock.)
            let part = open(served + "/" + IncomingFile.partName(for: "data"), O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            #expect(flock(part, LOCK_EX) == 0)
            let release = Task {
                try await Task.sleep(for: .milliseconds(300))
                close(part)
            }
            try await server.withClient { connection in
                _ = try await connection.upload(local + "/data", to: "data")
            }
            try await release.value
            #expect(sha256(of: served + "/data") == sha256(of: local + "/data"))
            // Held for longer than the wait: refused as busy, and the connection goes on.
            let held = open(served + "/" + IncomingFile.partName(for: "again"), O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            defer { close(held) }
            #expect(flock(held, LOCK_EX) == 0)
            try await server.withClient { connection in
                do {
                    _ = try await connection.upload(local + "/data", to: "again")
                    Issue.record("an upload to a held partial file went ahead")
                } catch let error as PorterError {
                    #expect(error.message.contains("in progress"))
                }
                _ = try await connection.ping()
            }
        }
    }

    @Test(arguments: ControlMessage.Checksum.allCases)
    func resumeKeepsAVerifiedPrefixAndResendsAWrongOne(checksum: ControlMessage.Checksum) async throws {
        try await withFileServer { server, served, _, local in
            let size = 5_000_000
            try writeRandomFile(served + "/down", count: size)
            try writeRandomFile(local + "/up", count: size)
            let whole = try Data(contentsOf: URL(fileURLWithPath: served + "/down"))
            let part = local + "/" + IncomingFile.partName(for: "down")
            try whole.prefix(1_234_567).write(to: URL(fileURLWithPath: part))
            let upload = try Data(contentsOf: URL(fileURLWithPath: local + "/up"))
            try upload.prefix(2_000_000).write(
                to: URL(fileURLWithPath: served + "/" + IncomingFile.partName(for: "up")))
            try await server.withClient { connection in
                let got = try await connection.download(
                    "down", to: local + "/down", options: .init(resume: true, checksum: checksum))
                #expect(got.bytesSent == Int64(size - 1_234_567))
                #expect(sha256(of: local + "/down") == sha256(of: served + "/down"))
                let put = try await connection.upload(
                    local + "/up", to: "up", options: .init(resume: true, checksum: checksum))
                #expect(put.bytesSent == Int64(size - 2_000_000))
                #expect(sha256(of: served + "/up") == sha256(of: local + "/up"))

                // A partial file that differs from the source is replaced, not trusted.
                var wrong = whole.prefix(1_000_000)
                wrong[500] ^= 0xFF
                try wrong.write(to: URL(fileURLWithPath: part))
                let again = try await connection.download(
                    "down", to: local + "/down", options: .init(resume: true, checksum: checksum))
                #expect(again.bytesSent == Int64(size))
                #expect(sha256(of: local + "/down") == sha256(of: served + "/down"))
            }
            #expect(!FileManager.default.fileExists(atPath: part))
        }
    }

    @Test func pathsLeadingOutOfTheRootAreRefusedAndNothingOutsideIsTouched()
        async throws
    {
        try await withFileServer { server, served, outside, local in
            try "secret".write(toFile: outside + "/secret", atomically: false, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: served + "/out", withDestinationPath: outside)
            try FileManager.default.createSymbolicLink(atPath: served + "/abs", withDestinationPath: "/etc/passwd")
            try writeRandomFile(local + "/payload", count: 100)
            let corpus = [
                "../outside/secret", "/etc/passwd", "a/../../outside/secret", "out/secret", "abs", "out",
                "bad\u{0}name", String(repeating: "n", count: 300), String(repeating: "d/", count: 2100) + "x",
                "..", "./../outside/secret",
            ]
            try await server.withClient { connection in
                for path in corpus {
                    // An upload to a symlink's own name replaces the link (below), so it goes last.
                    for attempt in ["abs", "out"].contains(path) ? 0..<2 : 0..<3 {
                        do {
                            switch attempt {
                            case 0: _ = try await connection.download(path, to: local + "/got")
                            case 1: _ = try await connection.list(path)
                            default: _ = try await connection.upload(local + "/payload", to: path)
                            }
                            Issue.record("'\(path.prefix(40))' was accepted (attempt \(attempt))")
                        } catch let error as PorterError {
                            #expect(error.kind == .refused, "\(path.prefix(40)): \(error)")
                            #expect([.badPath, .notFound].contains(error.code), "\(path.prefix(40)): \(error)")
                        }
                    }
                }
                await #expect(throws: PorterError.self) {
                    _ = try await connection.uploadTree(local, to: "../outside/tree")
                }
                // Uploading to the name of a symlink that leads out replaces the link; nothing is written through it.
                _ = try await connection.upload(local + "/payload", to: "out")
                #expect(sha256(of: served + "/out") == sha256(of: local + "/payload"))
            }
            #expect(tree(outside) == ["secret"])
            #expect(try String(contentsOfFile: outside + "/secret", encoding: .utf8) == "secret")
            #expect(!FileManager.default.fileExists(atPath: local + "/got"))
            let root = try ConfinedDirectory(path: served)
            #expect(throws: ProtocolError.self) { try root.makeSymlink(["link"], target: "../outside") }
            #expect(throws: ProtocolError.self) { try root.makeSymlink(["link"], target: "/etc") }
        }
    }

    @Test func treesCopyBothWaysWithLayoutModesTimesAndInsideSymlinks() async throws {
        try await withFileServer { server, served, outside, local in
            let source = local + "/tree"
            try FileManager.default.createDirectory(atPath: source + "/sub/deep", withIntermediateDirectories: true)
            try writeRandomFile(source + "/a.bin", count: 3_000_000)
            try writeRandomFile(source + "/sub/b with space", count: 10)
            try writeRandomFile(source + "/sub/deep/empty", count: 0)
            chmod(source + "/sub", 0o750)
            try FileManager.default.createSymbolicLink(atPath: source + "/link", withDestinationPath: "sub/deep")
            try FileManager.default.createSymbolicLink(atPath: source + "/escape", withDestinationPath: outside)
            var times = [timespec(tv_sec: 1_500_000_000, tv_nsec: 0)]
            times.append(times[0])
            utimensat(AT_FDCWD, source + "/sub", times, AT_SYMLINK_NOFOLLOW)
            // The top directory's mode and time travel too, both ways.
            chmod(source, 0o751)
            var topTimes = [timespec(tv_sec: 1_400_000_000, tv_nsec: 5)]
            topTimes.append(topTimes[0])
            utimensat(AT_FDCWD, source, topTimes, 0)
            try await server.withClient { connection in
                let up = try await connection.uploadTree(source, to: "copy")
                #expect(up.files == 3 && up.symlinks == 1 && up.skipped.count == 1)
                let down = try await connection.downloadTree("copy", to: local + "/back")
                #expect(down.files == 3 && down.symlinks == 1)
            }
            let expected = ["a.bin", "link", "sub", "sub/b with space", "sub/deep", "sub/deep/empty"]
            #expect(tree(served + "/copy") == expected)
            #expect(tree(local + "/back") == expected)
            for file in ["a.bin", "sub/b with space", "sub/deep/empty"] {
                #expect(sha256(of: local + "/back/" + file) == sha256(of: source + "/" + file))
            }
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: local + "/back/link") == "sub/deep")
            var status = stat()
            stat(local + "/back/sub", &status)
            #expect(status.st_mode & 0o777 == 0o750)
            #expect(status.st_mtim.tv_sec == 1_500_000_000)
            for top in [served + "/copy", local + "/back"] {
                stat(top, &status)
                #expect(status.st_mode & 0o777 == 0o751, "\(top)")
                #expect(status.st_mtim.tv_sec == 1_400_000_000 && status.st_mtim.tv_nsec == 5, "\(top)")
            }
        }
    }

    /// One rule both ways: a name that is unsafe to create (here a terminal escape) is skipped with a warning
    /// that shows it escaped, by `put -r` as by `get -r`, and the rest of the tree is copied.
    @Test func unsafeNamesAreSkippedWithAWarningInBothDirections() async throws {
        try await withFileServer { server, served, _, local in
            let bad = "\u{1B}]2;owned\u{07}"
            for tree in [local + "/up", served + "/down"] {
                try FileManager.default.createDirectory(atPath: tree + "/d/" + bad, withIntermediateDirectories: true)
                try writeRandomFile(tree + "/d/" + bad + "/inside", count: 10)
                try writeRandomFile(tree + "/d/" + bad + "x", count: 10)
                try writeRandomFile(tree + "/good", count: 10)
            }
            try await server.withClient { connection in
                let up = try await connection.uploadTree(local + "/up", to: "copy")
                let down = try await connection.downloadTree("down", to: local + "/back")
                for summary in [up, down] {
                    #expect(summary.files == 1)
                    #expect(summary.skipped.count == 2, "\(summary.skipped)")
                    #expect(summary.skipped.allSatisfy { $0.contains("\\x1B]2;owned\\x07") && !$0.contains("\u{1B}") })
                    #expect(summary.skipped.contains { $0.hasSuffix("(and everything in it)") })
                }
            }
            #expect(tree(served + "/copy") == ["d", "good"])
            #expect(tree(local + "/back") == ["d", "good"])
        }
    }

    /// A name that is not UTF-8 is never changed (U+FFFD) on the way: it is left out, and named with its bytes as
    /// `\xFF`, in listings and in trees copied either way.
    @Test func namesThatAreNotUTF8AreNamedAndLeftOut() async throws {
        try await withFileServer { server, served, _, local in
            func create(_ directory: String, _ name: [UInt8]) {
                let path = Array(directory.utf8) + [UInt8(ascii: "/")] + name + [0]
                let descriptor = path.withUnsafeBufferPointer { bytes in
                    bytes.withMemoryRebound(to: CChar.self) {
                        open($0.baseAddress!, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
                    }
                }
                #expect(descriptor >= 0)
                close(descriptor)
            }
            for directory in [local + "/up", served + "/down"] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try writeRandomFile(directory + "/good", count: 10)
                create(directory, Array("r".utf8) + [0xFF] + Array("name".utf8))
            }
            try await server.withClient { connection in
                let listing = try await connection.list("down")
                #expect(listing.entries.map(\.path) == ["good"])
                #expect(listing.unreadable == ["'r\\xFFname': its name is not valid UTF-8"])
                #expect(listing.directory?.type == .directory)
                let up = try await connection.uploadTree(local + "/up", to: "copy")
                let down = try await connection.downloadTree("down", to: local + "/back")
                for summary in [up, down] {
                    #expect(summary.files == 1)
                    #expect(summary.skipped == ["'r\\xFFname': its name is not valid UTF-8"])
                }
            }
            #expect(tree(served + "/copy") == ["good"])
            #expect(tree(local + "/back") == ["good"])
        }
    }

    /// A server that sends names leading out of the target during `get -r` cannot make the client write there.
    @Test(arguments: [
        "../evil", "d/../../evil", "/tmp/evil", "d/\u{1B}]2;owned\u{07}", "d//evil", "link/evil",
    ])
    func aHostileServerCannotWriteOutsideTheTarget(name: String) async throws {
        try await withTemporaryDirectory { base in
            let target = base + "/target"
            let payload = ByteBuffer(string: "evil")
            let entries: [ControlMessage.FileEntry] = [
                .init(path: "d", type: .directory, size: 0, mode: 0o755, mtime: .init(seconds: 0, nanoseconds: 0)),
                .init(
                    path: "link", type: .symlink, size: 2, mode: 0o777, mtime: .init(seconds: 0, nanoseconds: 0),
                    target: ".."),
                .init(path: name, type: .file, size: 4, mode: 0o4755, mtime: .init(seconds: 0, nanoseconds: 0)),
            ]
            try await withFakeServer(answer: treeAnswers(listing: entries, payload: payload, mode: 0o4755)) {
                endpoint in
                let configuration = ClientConfiguration(
                    token: testToken, transport: .plaintext, connectTimeout: 30 * testSlowdown)
                try await PorterClient.withConnection(to: endpoint, configuration: configuration) { connection in
                    // The unsafe name is skipped with a warning; the rest of the tree is copied.
                    let summary = try await connection.downloadTree("x", to: target)
                    #expect(summary.files == 0)
                    #expect(summary.skipped.count == 2, "\(summary.skipped)")
                    #expect(summary.skipped.allSatisfy { !$0.contains("\u{1B}") }, "control characters are escaped")
                }
            }
            #expect(tree(base).allSatisfy { $0 == "target" || $0.hasPrefix("target/") })
            #expect(!FileManager.default.fileExists(atPath: "/tmp/evil"))
            #expect(!tree(target).contains { $0.hasSuffix("evil") || $0.contains("owned") })
        }
    }
}
