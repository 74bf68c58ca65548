#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Cuts a byte stream (a command's standard output or error) into the `data` of `stdout`/`stderr` events: text
/// where the bytes are valid UTF-8, base64 where they are not.
///
/// A chunk that ends inside a UTF-8 sequence holds those last bytes (at most three) back and sends them with the
/// next chunk, so that a character cut by the transport still arrives as text. A chunk that is not UTF-8 goes
/// whole as base64, as does what is held back when the stream ends. Joining every piece's decoded bytes in order
/// gives the stream exactly.
struct UTF8Chunker {
    /// One piece: its `data` and `encoding` fields.
    struct Piece: Equatable {
        /// The bytes as text, or as base64.
        var data: String
        /// `utf8` or `base64`.
        var encoding: String

        /// An event named `name` (`stdout`, `stderr`) carrying this piece.
        func event(_ name: String) -> JSONEvent {
            JSONEvent(name, ["data": .string(data), "encoding": .string(encoding)])
        }
    }

    private var held: [UInt8] = []

    /// The piece to send for `bytes`, the next chunk of the stream; `nil` when all of it is held back.
    mutating func take(_ bytes: some Collection<UInt8>) -> Piece? {
        var chunk = held
        chunk.append(contentsOf: bytes)
        held = []
        let cut = chunk.count - Self.incompleteTail(of: chunk)
        guard let text = String(validating: chunk[..<cut], as: UTF8.self) else { return Self.base64(chunk) }
        held = Array(chunk[cut...])
        return text.isEmpty ? nil : Piece(data: text, encoding: "utf8")
    }

    /// What is still held back once the stream has ended, as base64 (it is not a whole character).
    mutating func finish() -> Piece? {
        defer { held = [] }
        return held.isEmpty ? nil : Self.base64(held)
    }

    /// One whole message (an echo's answer, a datagram): text if it is valid UTF-8, else base64.
    static func piece(_ bytes: some Collection<UInt8>) -> Piece {
        String(validating: bytes, as: UTF8.self).map { Piece(data: $0, encoding: "utf8") } ?? base64(bytes)
    }

    private static func base64(_ bytes: some Collection<UInt8>) -> Piece {
        Piece(data: Data(bytes).base64EncodedString(), encoding: "base64")
    }

    /// How many bytes at the end of `bytes` begin a UTF-8 sequence that has not ended yet.
    private static func incompleteTail(of bytes: [UInt8]) -> Int {
        for back in stride(from: 1, through: min(3, bytes.count), by: 1) {
            let byte = bytes[bytes.count - back]
            // A continuation byte (10xxxxxx): look further back for the sequence's first byte.
            if byte & 0b1100_0000 == 0b1000_0000 { continue }
            let length =
                switch byte {
                case 0b1100_0000...0b1101_1111: 2
                case 0b1110_0000...0b1110_1111: 3
                case 0b1111_0000...0b1111_0111: 4
                default: 1
                }
            return length > back ? back : 0
        }
        return 0
    }
}
