import NIOCore
import PorterProtocol
import Testing

@Suite struct ControlMessageTests {
    static let nonce = ControlMessage.Bytes(Array(repeating: 7, count: 32))
    static let everyMessage: [ControlMessage] = [
        .hello(.init(versions: [1], agent: "porter/0.1.0", nonce: nonce)),
        .welcome(
            .init(
                version: 1, agent: "porter/0.1.0", server: "host", nonce: nonce, auth: ["hmac-sha256"],
                limits: .init(maxControlPayload: 65536, maxDataPayload: 1_048_576, idleTimeout: 300)
            )
        ),
        .auth(.init(method: "hmac-sha256", proof: .init([1, 2, 3]))),
        .ready(.init(proof: .init([4, 5]))),
        .ping(.init(id: 42)), .pong(.init(id: 42)), .keepalive,
        .error(.init(code: .frameTooLarge, message: "too big", fatal: true)),
        .echo, .end,
        .chatJoin(.init(room: "lobby", name: "ann")),
        .chatJoined(.init(room: "lobby", name: "ann", members: ["ann", "bob"])),
        .chatSay(.init(text: "hi \u{1B}[31m")),
        .chatMessage(.init(from: "bob", text: "yo", private: true)),
        .chatWho, .chatMembers(.init(room: "lobby", members: ["ann"])),
        .chatNick(.init(name: "anna")), .chatPrivate(.init(to: "bob", text: "psst")),
        .chatPresence(.init(event: .renamed, name: "ann", newName: "anna")),
        .chatPresence(.init(event: .left, name: "bob")),
        .chatLeave,
    ]

    @Test(arguments: everyMessage)
    func roundTripsThroughJSON(message: ControlMessage) throws {
        #expect(try ControlMessage(frame: message.frame) == message)
    }

    @Test func carriesItsTypeOnTheWire() {
        let json = String(buffer: ControlMessage.chatSay(.init(text: "x")).payload)
        #expect(json.contains("\"type\":\"chat.say\""))
    }

    @Test(arguments: [
        ("", "control frame is not valid JSON, or a number in it does not fit its field"),
        ("not json", "control frame is not valid JSON, or a number in it does not fit its field"),
        ("[1,2]", "a control message must be a JSON object"),
        (
            #"{"type":"exec","argv":["true"],"timeout":1e19}"#,
            "'timeout' must be more than 0 and at most 31536000 seconds (one year)"
        ),
        ("{}", "control message is missing the field 'type'"),
        (#"{"type":"launch-missiles"}"#, "unknown message type 'launch-missiles'"),
        (#"{"type":"chat.say"}"#, "control message is missing the field 'text'"),
        (#"{"type":"ping","id":"x"}"#, "control message has a wrong value at 'id'"),
        (#"{"type":"hello","versions":[1],"agent":"a","nonce":"%%%"}"#, "control message has a wrong value at 'nonce'"),
    ])
    func rejectsMalformedPayloads(json: String, message: String) {
        #expect(throws: ProtocolError(.badMessage, message)) {
            try ControlMessage(payload: ByteBuffer(string: json))
        }
    }

    @Test func ignoresUnknownFields() throws {
        let message = try ControlMessage(payload: ByteBuffer(string: #"{"type":"chat.say","text":"hi","color":"red"}"#))
        #expect(message == .chatSay(.init(text: "hi")))
    }

    @Test func refusesADataFrameWhereAMessageIsExpected() {
        #expect(throws: ProtocolError.self) { try ControlMessage(frame: .data(ByteBuffer(string: "{}"))) }
    }
}
