import NIOCore
import Synchronization

/// What became of a future, recorded when it completes (on an `EmbeddedEventLoop`, as soon as it is completed).
final class FutureOutcome: Sendable {
    private let result = Mutex<Result<Void, any Error>?>(nil)

    init(_ future: EventLoopFuture<Void>) {
        future.whenComplete { result in self.result.withLock { $0 = result } }
    }

    /// Not completed yet.
    var isPending: Bool { result.withLock { $0 == nil } }

    /// Completed successfully.
    var succeeded: Bool {
        result.withLock { if case .success = $0 { true } else { false } }
    }

    /// The error it failed with, if it failed.
    var error: (any Error)? {
        result.withLock { if case .failure(let error) = $0 { error } else { nil } }
    }

    /// It failed with `expected`.
    func failed(with expected: ChannelError) -> Bool {
        (error as? ChannelError) == expected
    }
}
