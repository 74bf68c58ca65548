/// The few actions one input of a state machine produces, held inline: a frame costs no allocation to pass through
/// ``ConnectionStateMachine`` or ``ChannelStateMachine``.
public struct InlineActions<Element: Sendable & Equatable>: Sendable, Equatable, Sequence {
    /// The most actions one input produces (for example a write, `authenticated` and a timer; or a channel's
    /// failure with its eof, `fail` and `close`, and a timer).
    public static var capacity: Int { 6 }

    @usableFromInline var first: Element?
    @usableFromInline var second: Element?
    @usableFromInline var third: Element?
    @usableFromInline var fourth: Element?
    @usableFromInline var fifth: Element?
    @usableFromInline var sixth: Element?
    /// How many actions are held.
    public private(set) var count = 0

    /// No actions.
    public init() {}

    /// Whether there is nothing to do.
    public var isEmpty: Bool { count == 0 }

    mutating func append(_ action: Element) {
        precondition(count < Self.capacity, "one input produced more than \(Self.capacity) actions")
        switch count {
        case 0: first = action
        case 1: second = action
        case 2: third = action
        case 3: fourth = action
        case 4: fifth = action
        default: sixth = action
        }
        count += 1
    }

    /// The actions in order. Inlinable, as is the iterator, so that a state machine's caller in another module
    /// iterates them specialised, with no generic metadata looked up per input.
    @inlinable
    public func makeIterator() -> Iterator { Iterator(actions: self) }

    /// Iterates over the actions in order, moving each out of its copy of them.
    public struct Iterator: IteratorProtocol {
        @usableFromInline var actions: InlineActions
        @usableFromInline var index = 0

        @inlinable
        init(actions: InlineActions) { self.actions = actions }

        /// The next action, or `nil` after the last.
        @inlinable
        public mutating func next() -> Element? {
            defer { index += 1 }
            switch index {
            case 0: return actions.first.take()
            case 1: return actions.second.take()
            case 2: return actions.third.take()
            case 3: return actions.fourth.take()
            case 4: return actions.fifth.take()
            case 5: return actions.sixth.take()
            default: return nil
            }
        }
    }
}
