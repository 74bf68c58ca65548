import NIOCore
import PorterFuzz
import PorterProtocol
import Testing

/// Every number field of every message, given the values an attacker tries: each either decodes to a message
/// whose numbers are all in range or is refused with a `bad-message` error that names the field — never a trap,
/// never a value the server cannot use.
@Suite struct MessageRangeTests {
    /// A message with `#` where a number goes.
    static let templates = [
        #"{"type":"ping","id":#}"#,
        #"{"type":"exec","argv":["true"],"timeout":#}"#,
        #"{"type":"exec","argv":["true"],"pty":{"term":"xterm","rows":#,"cols":80}}"#,
        #"{"type":"exec","argv":["true"],"pty":{"term":"xterm","rows":24,"cols":#}}"#,
        #"{"type":"exec.resize","term":"xterm","rows":#,"cols":80}"#,
        #"{"type":"exec.started","pid":#,"window":1}"#,
        #"{"type":"exec.window","bytes":#}"#,
        #"{"type":"exec.exit","status":#,"timedOut":false,"duration":1}"#,
        #"{"type":"exec.exit","signal":"KILL","signalNumber":#,"timedOut":false,"duration":1}"#,
        #"{"type":"exec.exit","status":0,"timedOut":false,"duration":#}"#,
        #"{"type":"file.get","path":"a","offset":#}"#,
        #"{"type":"file.header","size":#,"offset":0,"mode":420,"mtime":{"seconds":0,"nanoseconds":0}}"#,
        #"{"type":"file.header","size":10,"offset":#,"mode":420,"mtime":{"seconds":0,"nanoseconds":0}}"#,
        #"{"type":"file.header","size":10,"offset":0,"mode":#,"mtime":{"seconds":0,"nanoseconds":0}}"#,
        #"{"type":"file.put","path":"a","size":#}"#,
        #"{"type":"file.put","path":"a","size":1,"mode":#}"#,
        #"{"type":"file.put","path":"a","size":1,"mtime":{"seconds":#,"nanoseconds":0}}"#,
        #"{"type":"file.put","path":"a","size":1,"mtime":{"seconds":0,"nanoseconds":#}}"#,
        #"{"type":"file.ready","offset":#}"#,
        #"{"type":"file.begin","offset":#}"#,
        #"{"type":"file.done","size":#}"#,
        #"{"type":"file.attrs","path":"a","mode":#}"#,
        #"{"type":"file.attrs","path":"a","mtime":{"seconds":#,"nanoseconds":0}}"#,
        #"{"type":"file.listing","kind":"directory","more":false,"skipped":#,"entries":[]}"#,
        #"{"type":"welcome","version":1,"agent":"a","server":"s","nonce":"AA==","auth":[],"limits":{"maxControlPayload":#,"maxDataPayload":1,"idleTimeout":0}}"#,
        #"{"type":"welcome","version":1,"agent":"a","server":"s","nonce":"AA==","auth":[],"limits":{"maxControlPayload":1,"maxDataPayload":1,"idleTimeout":#}}"#,
    ]

    /// What an attacker puts in a number field.
    static let extremes = [
        "0", "-0", "-1", "0.5", "1e-300", "9007199254740993", "9223372036854775807", "9223372036854775808",
        "18446744073709551616", "1e19", "1e308", "-1e308", "1e400", #""NaN""#, #""inf""#, #""-Infinity""#, "null",
        "[]", "{}", "true",
    ]

    @Test(arguments: templates)
    func extremeValuesAreInRangeOrRefusedByName(_ template: String) {
        for value in Self.extremes {
            let json = template.replacingOccurrences(of: "#", with: value)
            do {
                let message = try ControlMessage(payload: ByteBuffer(string: json))
                #expect((try? message.validate()) != nil, "\(json)")
            } catch {
                #expect(error.code == .badMessage, "\(json)")
                #expect(!error.message.contains("JSON object"), "\(json): \(error.message)")
            }
            // The fuzz target's own properties, which also use each number as the server would.
            FuzzTarget.messages(Array(json.utf8))
        }
    }

    @Test func theValuesThatOnceCrashedTheServerAreRefused() {
        for json in [
            #"{"type":"exec","argv":["true"],"timeout":1e19}"#,
            #"{"type":"exec","argv":["true"],"timeout":1e308}"#,
            #"{"type":"exec.resize","term":"xterm","rows":0,"cols":80}"#,
            #"{"type":"file.put","path":"a","size":-1}"#,
            #"{"type":"file.put","path":"a","size":1,"mode":33188}"#,
            #"{"type":"file.header","size":10,"offset":11,"mode":420,"mtime":{"seconds":0,"nanoseconds":0}}"#,
        ] {
            let error = #expect(throws: ProtocolError.self, "\(json)") {
                try ControlMessage(payload: ByteBuffer(string: json))
            }
            #expect(error?.message.contains("outside") == true || error?.message.contains("at most") == true)
        }
    }

    @Test func aWrongTypeIsNamedAndNotCalledMissingJSON() throws {
        let error = #expect(throws: ProtocolError.self) {
            try ControlMessage(payload: ByteBuffer(string: #"{"type":"exec","argv":["true"],"timeout":"inf"}"#))
        }
        #expect(error?.message.contains("timeout") == true)
        let notAnObject = #expect(throws: ProtocolError.self) { try ControlMessage(payload: ByteBuffer(string: "[1]")) }
        #expect(notAnObject?.message == "a control message must be a JSON object")
    }
}
