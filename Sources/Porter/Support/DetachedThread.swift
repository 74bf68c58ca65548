import CPorterSystem

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A thread of its own for work that blocks in a system call for as long as it likes (the child reaper's
/// `epoll_wait`), kept off NIO's and Swift concurrency's threads.
enum DetachedThread {
    private final class Body {
        let name: String
        let run: @Sendable () -> Void
        init(name: String, _ run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }
    }

    /// Starts a detached thread named `name` (the system keeps 15 bytes of it) that runs `body`.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let argument = Unmanaged.passRetained(Body(name: name, body)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(
            &thread, nil,
            { argument in
                let body = Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue()
                porter_name_this_thread(body.name)
                body.run()
                return nil
            }, argument)
        precondition(started == 0, "cannot start a thread: \(String(cString: strerror(started)))")
        pthread_detach(thread)
    }
}
