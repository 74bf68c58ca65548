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

    /// A target is a run of `..` no longer than the link's depth, then names: a `..` after a name can climb out
    /// through another link (`up -> ..` makes `up/..` the parent of the tree), however it reads lexically.
    @Test(arguments: [
        (["l"], "a/b"), (["l"], "."), (["l"], "./a//b/"), (["d", "l"], "../x"), (["d", "e", "l"], "../../x/y"),
        (["d", "l"], ".."), (["d", "l"], "./../x"),
    ])
    func symlinkTargetsThatStayInside(link: [String], target: String) {
        #expect(PeerPath.problem(withSymlinkAt: link, target: target) == nil)
    }

    @Test(arguments: [
        (["d", "l"], "up/.."), (["d", "l"], "up2/../x"), (["l"], "a/../b"), (["d", "e", "l"], "../x/../y"),
        (["l"], ".."), (["d", "l"], "../.."), (["d", "l"], "../../x"), (["l"], ""), (["l"], "/etc"),
        (["l"], "a/./.."), (["d", "l"], ".././../x"),
    ])
    func symlinkTargetsThatCouldLeadOut(link: [String], target: String) {
        #expect(PeerPath.problem(withSymlinkAt: link, target: target) != nil)
    }

    @Test func localPathsAreCheckedComponentByComponent() {
        #expect(PeerPath.problem(withLocalPath: "a/b c/d") == nil)
        for path in ["", "/a", "a//b", "a/../b", "a/\u{1B}x", "a/./b"] {
            #expect(PeerPath.problem(withLocalPath: path) != nil, "\(path.debugDescription)")
        }
    }

    @Test func localNamesWithAHiddenSlashAreRefused() {
        #expect(PeerPath.problem(withLocalName: "a\u{0603}/b") != nil)
        #expect(throws: ProtocolError.self) { try PeerPath.localComponents(of: "d/a\u{0603}/../../x") }
        #expect(throws: ProtocolError.self) { try PeerPath.localComponents(of: "/\u{0301}x") }
        #expect(PeerPath.problem(withLocalName: "plain name") == nil)
    }
}
