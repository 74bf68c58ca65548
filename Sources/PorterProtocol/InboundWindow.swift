/// The receiver's side of one direction of a channel: the credit it granted, and when to grant more
/// (docs/PROTOCOL.md section 5.2; swift-nio-ssh's `ChildChannelWindowManager`).
///
/// It keeps `W` (``window``, the window first granted), ``credit`` (what the sender still has) and ``held`` (bytes
/// received and not yet consumed). `credit + held` never exceeds `W`: after consuming, once it has fallen to `W / 2`
/// or below, ``consumed(_:)`` returns the increment that makes it `W` again. So the receiver never holds more than
/// `W` bytes of the channel's data, and sends one window frame per half window consumed.
public struct InboundWindow: Sendable, Equatable {
    /// `W`: the window first granted (the `window` of this side's `open` or `accept`), 0 to 2^32−1 bytes.
    public let window: UInt32
    /// The bytes the sender may still send.
    public private(set) var credit: UInt32
    /// The bytes received and not yet consumed.
    public private(set) var held: UInt32

    /// A window of `window` bytes, all of it granted.
    public init(window: UInt32) {
        self.window = window
        self.credit = window
        self.held = 0
    }

    /// A data frame of `bytes` payload bytes arrived: it uses credit and is held until consumed.
    ///
    /// - Throws: ``ProtocolError`` with ``ProtocolError/Code/flowControl`` when `bytes` is more than ``credit``;
    ///   nothing changes.
    public mutating func received(_ bytes: Int) throws(ProtocolError) {
        guard bytes >= 0, bytes <= Int(credit) else {
            throw ProtocolError(
                .flowControl, "the peer sent \(bytes) bytes of data on a channel with \(credit) bytes of credit")
        }
        credit -= UInt32(bytes)
        held += UInt32(bytes)
    }

    /// Local code consumed `bytes` of the held bytes (at most ``held``).
    ///
    /// - Returns: the credit to grant in a window frame, `W − credit − held`, when `credit + held ≤ W / 2` (integer
    ///   division); `nil` otherwise, or when that would be 0 (a window of 0 grants nothing).
    public mutating func consumed(_ bytes: Int) -> UInt32? {
        precondition(bytes >= 0 && bytes <= Int(held), "consumed \(bytes) bytes with \(held) held")
        held -= UInt32(bytes)
        let available = credit + held
        guard available <= window / 2, available < window else { return nil }
        let increment = window - available
        credit += increment
        return increment
    }
}
