import Foundation
import NIOCore
import PorterProtocol
import Testing

@testable import Porter

#if canImport(Glibc)
    import Glibc
#endif

/// Several uploads to one name: whatever the interleaving, the final name only ever holds a complete, verified
/// file from a client that was told it succeeded.
@Suite(.timeLimit(.minutes(2))) struct ConcurrentUploadTests {
    /// Creates `base/served` (the server's root) and `base/local`.
    private func makeServedAndLocal(in base: String) throws -> (served: String, local: String) {
        let (served, local) = (base + "/served", base + "/local")
        for directory in [served, local] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        return (served, local)
    }

    /// How many descriptors of this process are open on `path` (the in-process server's included).
    private func descriptorsOpen(on path: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.count { entry in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry)) == path
        }
    }

    /// The race behind a corrupted file: an upload waits for the lock of a partial file that another transfer
    /// holds, and that transfer then renames the partial file into place. The waiting upload must start over on
    /// a new partial file rather than write into the finished one.
    @Test func anUploadThatWaitedForThePartialFileNeverWritesIntoTheFinishedFile()
        async throws
    {
        try await withTemporaryDirectory { base in
            let (served, local) = try makeServedAndLocal(in: base)
            let part = served + "/" + IncomingFile.partName(for: "r.bin")
            let final = served + "/r.bin"
            // The first transfer: its partial file, locked, holding the complete first file.
            let first = Data(repeating: 0x41, count: 300_000)
            try first.write(to: URL(fileURLWithPath: part))
            let holder = open(part, O_RDWR | O_CLOEXEC)
            #expect(holder >= 0)
            #expect(flock(holder, LOCK_EX) == 0)
            try writeRandomFile(local + "/second.bin", count: 200_000)
            // The second upload waits as long as a loaded machine needs the test to notice it.
            let configure: (inout ServerConfiguration) -> Void = {
                $0.root = served
                $0.files.busyWait = 120
            }
            try await withTestServer(configure: configure) { server in
                try await withThrowingTaskGroup(of: Int64.self) { group in
                    group.addTask {
                        try await server.withClient { connection in
                            try await connection.upload(local + "/second.bin", to: "r.bin").bytes
                        }
                    }
                    // Once the second upload has the partial file open, the first finishes: renamed into place,
                    // then unlocked.
                    try await waitUntil(seconds: 20) { descriptorsOpen(on: part) >= 2 }
                    #expect(rename(part, final) == 0)
                    close(holder)
                    #expect(try await group.next() == 200_000)
                }
            }
            #expect(sha256(of: final) == sha256(of: local + "/second.bin"))
            #expect(!FileManager.default.fileExists(atPath: part))
        }
    }

    /// Five uploads of different files to one name at once: each succeeds or is refused as busy, and the file
    /// under the name is whole and is one that a client was told was stored.
    @Test func fiveUploadsToOneNameLeaveOneWholeVerifiedFile() async throws {
        try await withTemporaryDirectory { base in
            let (served, local) = try makeServedAndLocal(in: base)
            for index in 0..<5 { try writeRandomFile(local + "/\(index).bin", count: 2_000_000 + index * 100_000) }
            let stored = try await withTestServer(configure: { $0.root = served }) { server in
                try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                    for index in 0..<5 {
                        group.addTask {
                            try await server.withClient { connection in
                                do {
                                    _ = try await connection.upload(local + "/\(index).bin", to: "r.bin")
                                    return (index, true)
                                } catch let error as PorterError where error.code == .fileBusy {
                                    return (index, false)
                                }
                            }
                        }
                    }
                    var stored: [Int] = []
                    for try await (index, succeeded) in group where succeeded { stored.append(index) }
                    return stored
                }
            }
            #expect(!stored.isEmpty)
            let final = sha256(of: served + "/r.bin")
            #expect(stored.contains { sha256(of: local + "/\($0).bin") == final })
            #expect(tree(served) == ["r.bin"])
        }
    }

    /// Uploads waiting for a partial file that another transfer holds hold no thread meanwhile: more of them than
    /// the thread pool has threads, and a download and an upload of other files still go ahead.
    @Test func uploadsWaitingForAHeldPartialFileStopNoOtherTransfer() async throws {
        try await withTemporaryDirectory { base in
            let (served, local) = try makeServedAndLocal(in: base)
            let part = served + "/" + IncomingFile.partName(for: "held.bin")
            let holder = open(part, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            #expect(flock(holder, LOCK_EX) == 0)
            try writeRandomFile(local + "/up.bin", count: 300_000)
            try writeRandomFile(served + "/down.bin", count: 300_000)
            let waiters = 2 * System.coreCount + 2
            let configure: (inout ServerConfiguration) -> Void = {
                $0.root = served
                $0.files.busyWait = 120
            }
            try await withTestServer(configure: configure) { server in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<waiters {
                        group.addTask {
                            try await server.withClient { connection in
                                _ = try await connection.upload(local + "/up.bin", to: "held.bin")
                            }
                        }
                    }
                    // Every waiting upload has asked for the partial file.
                    try await waitUntil(seconds: 60) { server.server.busyConnectionCount >= waiters }
                    try await server.withClient { connection in
                        _ = try await connection.download("down.bin", to: local + "/down.bin")
                        _ = try await connection.upload(local + "/up.bin", to: "other.bin")
                    }
                    close(holder)
                    try await group.waitForAll()
                }
            }
            #expect(sha256(of: local + "/down.bin") == sha256(of: served + "/down.bin"))
            #expect(sha256(of: served + "/other.bin") == sha256(of: local + "/up.bin"))
            #expect(sha256(of: served + "/held.bin") == sha256(of: local + "/up.bin"))
        }
    }

    /// An upload on a channel whose connection ended while it waited for a held partial file: when the file is
    /// free at last, the open finds the channel gone, and neither the transfer (on the status page and in the
    /// metrics) nor the file stays open.
    @Test func anUploadWhoseConnectionEndedWhileItWaitedLeavesNothingOpen() async throws {
        try await withTemporaryDirectory { root in
            let part = root + "/" + IncomingFile.partName(for: "w.bin")
            #expect(FileManager.default.createFile(atPath: part, contents: Data()))
            let holder = open(part, O_RDWR | O_CLOEXEC)
            #expect(holder >= 0)
            #expect(flock(holder, LOCK_EX) == 0)
            let configure: (inout ServerConfiguration) -> Void = {
                $0.root = root
                $0.files.busyWait = 120
            }
            try await withTestServer(plaintext: true, configure: configure) { server in
                try await FrameConnection.run(server.endpoint) { connection in
                    let put = ControlMessage.FilePut(path: "w.bin", size: 4)
                    try await connection.send(
                        ChannelMessage.open(.init(window: 0, parameters: .filePut(put))).frame(channel: 1))
                    // The server has the partial file open and waits for its lock.
                    try await waitUntil { descriptorsOpen(on: part) >= 2 }
                }
                close(holder)
                try await waitUntil { descriptorsOpen(on: part) == 0 }
                #expect(server.server.activity.transfers.isEmpty)
            }
        }
    }

    /// A finished file refuses further writes and a second finish: its descriptors are closed, and may already
    /// belong to another file.
    @Test func aFinishedIncomingFileRefusesFurtherWrites() async throws {
        try await withTemporaryDirectory { root in
            let directory = try ConfinedDirectory(path: root)
            let file = try IncomingFile(in: directory, ["done.txt"], size: 4, resume: false)
            try file.begin(at: 0)
            try file.write(ByteBuffer(string: "abcd"))
            let digest = FileDigest.hex(of: ByteBuffer(string: "abcd"))
            try file.finish(expected: digest, mode: nil, mtime: nil)
            // Whatever is opened now may get the numbers the file's descriptors had.
            let other = open(root + "/other", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            defer { close(other) }
            #expect(throws: ProtocolError.self) { try file.write(ByteBuffer(string: "more")) }
            #expect(throws: ProtocolError.self) { try file.finish(expected: digest, mode: 0o777, mtime: nil) }
            #expect(try String(contentsOfFile: root + "/done.txt", encoding: .utf8) == "abcd")
            #expect(try FileManager.default.attributesOfItem(atPath: root + "/other")[.size] as? Int == 0)
            let mode = try FileManager.default.attributesOfItem(atPath: root + "/other")[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }
}
