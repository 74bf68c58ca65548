import NIOPosix

/// Runs blocking file system work on NIO's shared thread pool, so that no event loop and no task of the
/// cooperative pool ever waits on a disk.
enum BlockingIO {
    /// Runs `work` on the thread pool and returns its result.
    static func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await NIOThreadPool.singleton.runIfActive(work)
    }
}
