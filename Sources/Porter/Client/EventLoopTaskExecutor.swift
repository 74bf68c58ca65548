import NIOCore

/// A task executor that runs jobs on one NIO event loop: the executor of ``ClientConnection/taskExecutor``.
///
/// A task that prefers it (`withTaskExecutorPreference(_:operation:)`) runs on the thread that does the
/// connection's I/O, so each await on the connection resumes there without waking another thread, and each write
/// goes into the pipeline without a hop.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
