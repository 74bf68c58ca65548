import Synchronization

/// Bytes that several holders draw from and give back, so that what they buffer together stays bounded: the
/// output of every classic exec command being collected or sent (``ClassicConfiguration/maxExecOutputTotal``).
final class SharedByteBudget: Sendable {
    /// The bytes there are in all.
    let capacity: Int
    private let left: Atomic<Int>

    init(capacity: Int) {
        self.capacity = max(capacity, 0)
        self.left = Atomic(max(capacity, 0))
    }

    /// Takes up to `count` bytes and returns how many it got: fewer, or none, once the budget is spent.
    func take(upTo count: Int) -> Int {
        var current = left.load(ordering: .relaxed)
        while true {
            let granted = min(max(count, 0), current)
            guard granted > 0 else { return 0 }
            let (exchanged, original) = left.compareExchange(
                expected: current, desired: current - granted, ordering: .relaxed)
            if exchanged { return granted }
            current = original
        }
    }

    /// Gives back `count` bytes taken with ``take(upTo:)``.
    func giveBack(_ count: Int) {
        guard count > 0 else { return }
        left.add(count, ordering: .relaxed)
    }

    /// The bytes not taken now.
    var available: Int { left.load(ordering: .relaxed) }
}
