import NIOCore
import PorterProtocol
import Testing

/// How a control payload that is not a message is refused: `bad-message`, with a reason a person can act on.
@Suite struct MessageDecodingTests {
    @Test(arguments: [
        ("", "control frame is not valid JSON, or a number in it does not fit its field"),
        ("not json", "control frame is not valid JSON, or a number in it does not fit its field"),
        ("[1,2]", "a control message must be a JSON object"),
        ("{}", "control message is missing the field 'type'"),
        (#"{"type":"launch-missiles"}"#, "unknown connection message type 'launch-missiles'"),
        (#"{"type":"ping","id":"x"}"#, "control message has a wrong value at 'id'"),
        (#"{"type":"ping"}"#, "control message is missing the field 'id'"),
        (#"{"type":"hello","versions":[2],"agent":"a","nonce":"%%%"}"#, "control message has a wrong value at 'nonce'"),
    ])
    func aConnectionMessageThatIsNotOneIsRefusedWithItsReason(json: String, message: String) {
        #expect(throws: ProtocolError(.badMessage, message)) {
            try ConnectionMessage(payload: ByteBuffer(string: json))
        }
    }

    @Test(arguments: [
        (#"{"type":"chat.say"}"#, "control message is missing the field 'text'"),
        (
            #"{"type":"open","service":"exec","window":0,"argv":["true"],"timeout":1e19}"#,
            "'timeout' must be more than 0 and at most 31536000 seconds"
        ),
        (#"{"type":"open","service":"exec","window":0,"argv":["true"],"timeout":"inf"}"#, "timeout"),
    ])
    func aChannelMessageThatIsNotOneIsRefusedWithItsReason(json: String, message: String) {
        let error = #expect(throws: ProtocolError.self) {
            try ChannelMessage(payload: ByteBuffer(string: json), service: .chat)
        }
        #expect(error?.code == .badMessage)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test func unknownMembersAreIgnored() throws {
        let message = try ChannelMessage(
            payload: ByteBuffer(string: #"{"type":"chat.say","text":"hi","color":"red"}"#), service: .chat)
        #expect(message == .chatSay(.init(text: "hi")))
    }

    @Test func aDataFrameIsNotAMessage() {
        #expect(throws: ProtocolError.self) { try ConnectionMessage(frame: .data(ByteBuffer(string: "{}"))) }
    }

    /// The values that once crashed a server of version 1, in the messages that carry them now.
    @Test(arguments: [
        (ChannelService.exec, #"{"type":"open","service":"exec","window":0,"argv":["true"],"timeout":1e308}"#),
        (.exec, #"{"type":"exec.resize","rows":0,"cols":80}"#),
        (.filePut, #"{"type":"open","service":"file.put","window":0,"path":"a","size":-1}"#),
        (.filePut, #"{"type":"open","service":"file.put","window":0,"path":"a","size":1,"mode":33188}"#),
        (
            .fileGet,
            #"{"type":"accept","window":0,"size":10,"offset":11,"mode":420,"mtime":{"seconds":0,"nanoseconds":0}}"#
        ),
    ])
    func theValuesThatOnceCrashedAServerAreRefused(service: ChannelService, json: String) {
        let error = #expect(throws: ProtocolError.self, "\(json)") {
            try ChannelMessage(payload: ByteBuffer(string: json), service: service)
        }
        #expect(error?.code == .badMessage)
        #expect(error?.message.contains("outside") == true || error?.message.contains("at most") == true, "\(json)")
    }
}
