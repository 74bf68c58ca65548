import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Reads standard input (or another descriptor) line by line without blocking an event loop or the cooperative thread pool.
///
/// Each read runs on NIO's blocking thread pool and the next one starts only when the caller asks, so a fast
/// input and a slow server never pile up lines in memory.
struct StandardInput {
    private let descriptor: Int32
    private var buffer: ArraySlice<UInt8> = []
    private var finished = false

    /// Reads `descriptor`, standard input by default.
    init(descriptor: Int32 = STDIN_FILENO) {
        self.descriptor = descriptor
    }

    /// Whether `descriptor` is the null device, which has nothing to read: a command started with `< /dev/null`, or
    /// by a program that gives its children no input, as cron and most test runners do.
    static func isNullDevice(_ descriptor: Int32 = STDIN_FILENO) -> Bool {
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFCHR else { return false }
        var null = stat()
        return stat("/dev/null", &null) == 0 && null.st_rdev == status.st_rdev
    }

    /// The next bytes available, as soon as any are, or `nil` at end of input. A read error ends the input.
    mutating func nextChunk() async -> [UInt8]? {
        if !buffer.isEmpty {
            defer { buffer = [] }
            return Array(buffer)
        }
        guard !finished, let chunk = try? await read(), !chunk.isEmpty else {
            finished = true
            return nil
        }
        return chunk
    }

    /// The next line without its terminating newline (and carriage return), or `nil` at end of input.
    mutating func nextLine() async throws -> [UInt8]? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<newline])
                buffer = buffer[(newline + 1)...]
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return line
            }
            if finished {
                guard !buffer.isEmpty else { return nil }
                defer { buffer = [] }
                return Array(buffer)
            }
            let chunk = try await read()
            if chunk.isEmpty { finished = true } else { buffer.append(contentsOf: chunk) }
        }
    }

    /// One read of up to 64 KiB, on NIO's blocking thread pool; empty at end of input.
    private func read() async throws -> [UInt8] {
        let descriptor = self.descriptor
        return try await NIOThreadPool.singleton.runIfActive { () throws -> [UInt8] in
            var bytes = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = Glibc.read(descriptor, &bytes, bytes.count)
                if count >= 0 { return Array(bytes[..<count]) }
                if errno != EINTR { throw IOError(errnoCode: errno, reason: "read") }
            }
        }
    }
}
