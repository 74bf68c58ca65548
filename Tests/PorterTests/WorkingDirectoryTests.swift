import Foundation
import NIOCore
import Porter
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A command's working directory is the one that was checked: it is entered by descriptor, so swapping the
/// directory for a symlink that leads out, while commands start, sends none of them outside the root.
@Suite(.timeLimit(.minutes(3))) struct WorkingDirectoryTests {
    @Test func swappingTheDirectoryForAnEscapingSymlinkNeverRunsACommandOutside() async throws {
        try await withTemporaryDirectory { base in
            let root = base + "/root"
            let outside = base + "/outside"
            for directory in [root + "/d", outside] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            let resolvedRoot = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
            // Swaps `d` between the real directory and a symlink to the outside, as fast as it can.
            let stop = Atomic<Bool>(false)
            let swaps = Atomic<Int>(0)
            let swapper = Thread {
                let d = root + "/d"
                let real = root + "/d.real"
                while !stop.load(ordering: .relaxed) {
                    rename(d, real)
                    symlink("../outside", d)
                    unlink(d)
                    rename(real, d)
                    swaps.add(1, ordering: .relaxed)
                }
            }
            swapper.start()
            defer { stop.store(true, ordering: .relaxed) }
            try await waitUntil { swaps.load(ordering: .relaxed) > 0 }
            let (ran, outsideRuns) = try await withTestServer(configure: { $0.root = root }) { server in
                try await server.withClient { connection in
                    var ran = 0
                    var outsideRuns = 0
                    for _ in 0..<300 {
                        do {
                            let result = try await connection.run(["pwd"], options: ExecOptions(directory: "d"))
                            ran += 1
                            let directory = String(buffer: result.standardOutput)
                            if !directory.hasPrefix(resolvedRoot + "/") { outsideRuns += 1 }
                        } catch let error as PorterError where error.kind == .refused {
                            // Refused while `d` was the symlink or missing: nothing ran.
                        }
                    }
                    return (ran, outsideRuns)
                }
            }
            stop.store(true, ordering: .relaxed)
            #expect(outsideRuns == 0, "\(outsideRuns) of \(ran) commands ran outside the root")
        }
    }

    @Test func anAbsoluteDirectoryOutsideTheRootIsSaidToBeOutside() async throws {
        try await withTemporaryDirectory { root in
            let resolvedRoot = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
            try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
            try await withTestServer(configure: { $0.root = root }) { server in
                try await server.withClient { connection in
                    let error = await #expect(throws: PorterError.self) {
                        _ = try await connection.run(["pwd"], options: ExecOptions(directory: "/tmp"))
                    }
                    #expect(error?.message.contains("outside the server's root") == true)
                    // An absolute directory inside the root is that directory.
                    let sub = try await connection.run(["pwd"], options: ExecOptions(directory: resolvedRoot + "/sub"))
                    #expect(String(buffer: sub.standardOutput) == resolvedRoot + "/sub\n")
                }
            }
        }
    }
}
