import NIOCore

/// The requests of the classic course wire formats (docs/PROTOCOL.md, "Classic listeners"), parsed from one read of
/// at most 1,024 bytes, as the course's servers read them.
public enum ClassicRequest {
    /// An exec request: the whole read is a command for `/bin/sh -c`. Invalid UTF-8 becomes U+FFFD.
    public static func execCommand(_ request: ByteBuffer) -> String {
        String(decoding: request.readableBytesView, as: UTF8.self)
    }

    /// The header of an exec reply: the length of what follows, as a 4-byte little-endian signed integer.
    ///
    /// - Precondition: `length` fits in an `Int32`.
    public static func execReplyHeader(length: Int) -> ByteBuffer {
        precondition(length >= 0 && length <= Int(Int32.max), "a classic exec reply is at most Int32.max bytes")
        var header = ByteBuffer()
        header.writeInteger(Int32(length), endianness: .little)
        return header
    }

    /// An ftp request, `get NAME` with surrounding whitespace and line ends allowed: the peer path of the file
    /// (see ``PeerPath/components(of:)``), or `nil` if the request is not a `get` or the name is not a safe
    /// relative path below the root.
    public static func ftpGet(_ request: ByteBuffer) -> [String]? {
        let text = trimmed(String(decoding: request.readableBytesView, as: UTF8.self)[...])
        guard text.hasPrefix("get ") else { return nil }
        let name = trimmed(text.dropFirst(4))
        guard let path = try? PeerPath.components(of: String(name)), !path.isEmpty else { return nil }
        return path
    }

    /// A chat read: the text to say in the room, without trailing line ends, or `nil` if nothing is left.
    public static func chatText(_ request: ByteBuffer) -> String? {
        var text = String(decoding: request.readableBytesView, as: UTF8.self)[...]
        while let last = text.last, last == "\n" || last == "\r" || last == "\r\n" { text.removeLast() }
        return text.isEmpty ? nil : String(text)
    }

    /// `text` without leading or trailing ASCII whitespace (space, tab, CR, LF).
    private static func trimmed(_ text: Substring) -> Substring {
        let isText: (Character) -> Bool = { !" \t\n\r\r\n".contains($0) }
        guard let first = text.firstIndex(where: isText), let last = text.lastIndex(where: isText) else { return "" }
        return text[first...last]
    }
}
