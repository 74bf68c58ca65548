/// The rules for chat room and member names, shared by clients and servers.
public enum ChatName {
    /// The longest name, in characters.
    public static let maxLength = 32

    /// The room clients join when they name none.
    public static let defaultRoom = "lobby"

    /// Checks `name` (a room or member name): 1 to ``maxLength`` ASCII letters, digits, `_`, `-` or `.`.
    ///
    /// - Returns: the problem, or `nil` if the name is fine.
    public static func problem(with name: String, what: String = "name") -> ProtocolError? {
        guard !name.isEmpty else {
            return ProtocolError(.badRequest, "\(what) must not be empty")
        }
        guard name.utf8.count <= maxLength else {
            return ProtocolError(.badRequest, "\(what) is longer than \(maxLength) characters")
        }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
        guard allowed else {
            return ProtocolError(.badRequest, "\(what) may use only letters, digits, '_', '-' and '.'")
        }
        return nil
    }
}
