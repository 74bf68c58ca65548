import Foundation
import Testing

/// The audit log of a test server, read back: every line parsed as one JSON object with `time` and `event`.
struct AuditLines {
    typealias Line = [String: Any]

    let lines: [Line]

    /// Reads the audit log at `path`; a missing file has no lines.
    init(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        #expect(text.isEmpty || text.hasSuffix("\n"), "every line ends", sourceLocation: sourceLocation)
        lines = try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            let parsed = try #require(object as? Line, "not a JSON object: \(line)", sourceLocation: sourceLocation)
            #expect(
                parsed["event"] is String && parsed["time"] is String, "\(line)", sourceLocation: sourceLocation)
            return parsed
        }
    }

    /// The lines of `event`, in order, without the `started` lines of operations: each attempt's line, and each
    /// operation's last.
    func events(_ event: String) -> [Line] {
        lines.filter { $0["event"] as? String == event && $0.outcome != "started" }
    }

    /// The `started` lines of `event`'s operations.
    func started(_ event: String) -> [Line] {
        lines.filter { $0["event"] as? String == event && $0.outcome == "started" }
    }

    /// The `auth` lines for the key with `fingerprint`.
    func attempts(by fingerprint: String) -> [Line] {
        events("auth").filter { $0["key"] as? String == fingerprint }
    }
}

extension Dictionary where Key == String, Value == Any {
    /// An audit line's `error.code`.
    var errorCode: String? { (self["error"] as? [String: Any])?["code"] as? String }
    /// An audit line's `outcome`.
    var outcome: String? { self["outcome"] as? String }
}
