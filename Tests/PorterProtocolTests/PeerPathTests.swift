import PorterProtocol
import Testing

/// The lexical path checks, including the grapheme-cluster cases the fuzzer found: a `/` joined into one
/// `Character` with a mark before (U+0603, a prepended mark) or after it (U+0301, a combining accent).
@Suite struct PeerPathTests {
    @Test func relativePathsSplitIntoComponents() throws {
        #expect(try PeerPath.components(of: "a/./b//c/") == ["a", "b", "c"])
        #expect(try PeerPath.components(of: ".") == [])
        #expect(try PeerPath.components(of: "") == [])
    }

    @Test(arguments: [
        "../x", "a/../../x", "/etc/passwd", "a\u{0}b",
        "a\u{0603}/../../x",  // the slash and the mark form one Character
        "\u{0603}/..", "/\u{0301}etc/passwd",  // an absolute path whose first Character is not "/"
        "x/..\u{0603}/..",
    ])
    func escapingPathsAreRefused(_ path: String) {
        #expect(throws: ProtocolError.self) { try PeerPath.components(of: path) }
    }

    @Test func componentsNeverHoldASlash() throws {
        let components = try PeerPath.components(of: "a\u{0603}/b/\u{0301}c")
        #expect(components == ["a\u{0603}", "b", "\u{0301}c"])
        #expect(components.allSatisfy { !$0.utf8.contains(UInt8(ascii: "/")) })
    }

    @Test func symlinkTargetsAreReadByBytes() {
        #expect(PeerPath.symlinkStaysInside(at: ["d", "l"], target: "../x"))
        #expect(!PeerPath.symlinkStaysInside(at: ["l"], target: "../x"))
        // Read as Characters this is "a؃/..", "a؃/..", "..": one level down; in bytes it climbs out.
        #expect(!PeerPath.symlinkStaysInside(at: ["l"], target: "a\u{0603}/../a\u{0603}/../.."))
        #expect(!PeerPath.symlinkStaysInside(at: ["l"], target: "/\u{0301}etc"))
    }

    @Test func localNamesWithAHiddenSlashAreRefused() {
        #expect(PeerPath.problem(withLocalName: "a\u{0603}/b") != nil)
        #expect(throws: ProtocolError.self) { try PeerPath.localComponents(of: "d/a\u{0603}/../../x") }
        #expect(throws: ProtocolError.self) { try PeerPath.localComponents(of: "/\u{0301}x") }
        #expect(PeerPath.problem(withLocalName: "plain name") == nil)
    }
}
