import NIOCore
import PorterProtocol
import Testing

@Suite struct SmallRulesTests {
    @Test func echoUpperCasesOnlyASCIILetters() {
        var buffer = ByteBuffer(bytes: Array("abc XYZ 123 é\u{0}z".utf8) + [0xFF])
        EchoTransform.uppercaseASCII(&buffer)
        #expect(Array(buffer.readableBytesView) == Array("ABC XYZ 123 é\u{0}Z".utf8) + [0xFF])
    }

    @Test(arguments: ["a", "alice", "Bob_2", "x.y-z", String(repeating: "n", count: 32)])
    func acceptsGoodNames(name: String) {
        #expect(ChatName.problem(with: name) == nil)
    }

    @Test(arguments: ["", "has space", "new\nline", "\u{1B}[31m", "ünï", String(repeating: "n", count: 33), "a/b"])
    func refusesBadNames(name: String) {
        #expect(ChatName.problem(with: name)?.code == .badRequest)
    }
}
