/// The few actions one input of a state machine produces, held inline: a frame costs no allocation to pass through
/// ``ConnectionStateMachine`` or ``ChannelStateMachine``.
public struct InlineActions<Element: Sendable & Equatable>: Sendable, Equatable, Sequence {
    /// The most actions one input produces (for example a write, `authenticated` and a timer; or a channel's
    /// failure with its eof, `fail` and `close`, and a timer).
    public static var capacity: Int { 6 }

    private var first: Element?
    private var second: Element?
    private var third: Element?
    private var fourth: Element?
    private var fifth: Element?
    private var sixth: Element?
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

    /// The actions in order.
    public func makeIterator() -> Iterator { Iterator(actions: self) }

    /// Iterates over the actions in order.
    public struct Iterator: IteratorProtocol {
        fileprivate let actions: InlineActions
        private var index = 0

        fileprivate init(actions: InlineActions) { self.actions = actions }

        /// The next action, or `nil` after the last.
        public mutating func next() -> Element? {
            defer { index += 1 }
            switch index {
            case 0: return actions.first
            case 1: return actions.second
            case 2: return actions.third
            case 3: return actions.fourth
            case 4: return actions.fifth
            case 5: return actions.sixth
            default: return nil
            }
        }
    }
}
