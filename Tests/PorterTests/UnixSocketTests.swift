import Foundation
import Porter
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A unix-socket listener never takes over a live server's socket, replaces a stale one, and removes only its own.
@Suite(.timeLimit(.minutes(3))) struct UnixSocketTests {
    private func socketPath() -> String {
        NSTemporaryDirectory() + "porter-unix-\(UInt32.random(in: .min ... .max)).sock"
    }

    /// A socket file nothing listens on, as a server that died leaves behind.
    private func staleSocket(at path: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8) + [0])
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw TestFailure("cannot bind \(path)") }
    }

    private func inode(_ path: String) -> UInt64? {
        var status = stat()
        return lstat(path, &status) == 0 ? UInt64(status.st_ino) : nil
    }

    @Test func aSecondServerRefusesALiveServersSocketAndLeavesItAlone() async throws {
        let path = socketPath()
        defer { unlink(path) }
        try await withTestServer(listen: [.unix(path: path)]) { first in
            let error = await #expect(throws: PorterError.self) {
                try await withTestServer(listen: [.unix(path: path)]) { _ in }
            }
            #expect(error?.message.contains(path) == true)
            #expect(error?.message.contains("already listening") == true)
            // The first server still answers on its socket.
            let name = try await first.withClient { $0.welcome.server }
            #expect(name == "test-host")
        }
        #expect(inode(path) == nil)
    }

    @Test func aStaleSocketFileIsReplaced() async throws {
        let path = socketPath()
        defer { unlink(path) }
        try staleSocket(at: path)
        try await withTestServer(listen: [.unix(path: path)]) { server in
            let name = try await server.withClient { $0.welcome.server }
            #expect(name == "test-host")
        }
        #expect(inode(path) == nil)
    }

    @Test func aFileThatIsNotASocketIsRefusedByName() async throws {
        let path = socketPath()
        defer { unlink(path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data("keep".utf8)))
        let error = await #expect(throws: PorterError.self) {
            try await withTestServer(listen: [.unix(path: path)]) { _ in }
        }
        #expect(error?.message.contains(path) == true && error?.message.contains("not a socket") == true)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep")
    }

    @Test func aServerRemovesOnlyItsOwnSocketFile() async throws {
        let path = socketPath()
        defer { unlink(path) }
        let replaced = try await withTestServer(listen: [.unix(path: path)]) { _ in
            // Someone else's socket now stands at the path.
            unlink(path)
            try staleSocket(at: path)
            return inode(path)
        }
        #expect(replaced != nil)
        #expect(inode(path) == replaced)
    }
}
