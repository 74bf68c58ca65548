import NIOCore
import PorterFuzz
import PorterProtocol
import Testing

/// Every number member of version 2's messages, given the values an attacker tries: each either decodes to a
/// message whose members are all in range or is refused `bad-message` naming the member — never a trap.
@Suite struct V2MessageRangeTests {
    static let nonce = MessageExamples.nonce
    static let mtime = #"{"seconds":0,"nanoseconds":0}"#

    /// A message with `#` where a number goes; `nil` service for a connection message.
    static let templates: [(service: ChannelService?, json: String, member: String)] = [
        (nil, #"{"type":"ping","id":#}"#, "id"),
        (nil, #"{"type":"hello","versions":[#],"agent":"a","nonce":"\#(nonce)"}"#, "versions"),
        (
            nil,
            #"{"type":"hello","versions":[2],"agent":"a","nonce":"\#(nonce)","limits":{"maxControlPayload":#,"maxDataPayload":16384}}"#,
            "maxControlPayload"
        ),
        (
            nil,
            #"{"type":"welcome","version":#,"agent":"a","server":"s","nonce":"\#(nonce)","auth":[],"limits":{"maxControlPayload":65536,"maxDataPayload":16384,"idleTimeout":0,"maxChannels":1,"initialWindow":1,"maxWindow":1,"maxGlobalRequests":1}}"#,
            "version"
        ),
        (
            nil,
            #"{"type":"welcome","version":2,"agent":"a","server":"s","nonce":"\#(nonce)","auth":[],"limits":{"maxControlPayload":65536,"maxDataPayload":16384,"idleTimeout":#,"maxChannels":1,"initialWindow":1,"maxWindow":1,"maxGlobalRequests":1}}"#,
            "idleTimeout"
        ),
        (
            nil,
            #"{"type":"welcome","version":2,"agent":"a","server":"s","nonce":"\#(nonce)","auth":[],"limits":{"maxControlPayload":65536,"maxDataPayload":16384,"idleTimeout":0,"maxChannels":1,"initialWindow":1,"maxWindow":#,"maxGlobalRequests":1}}"#,
            "maxWindow"
        ),
        (nil, #"{"type":"global","id":#,"name":"file.mkdir","path":"a"}"#, "id"),
        (
            nil, #"{"type":"global","id":1,"name":"file.attrs","path":"a","mtime":{"seconds":#,"nanoseconds":0}}"#,
            "seconds"
        ),
        (nil, #"{"type":"global.fail","id":#,"code":"internal","message":"m"}"#, "id"),
        (nil, #"{"type":"shutdown","grace":#}"#, "grace"),
        (.echo, #"{"type":"open","service":"echo","window":#}"#, "window"),
        (.exec, #"{"type":"open","service":"exec","window":0,"argv":["true"],"timeout":#}"#, "timeout"),
        (
            .exec, #"{"type":"open","service":"exec","window":0,"argv":[],"pty":{"term":"x","rows":#,"cols":80}}"#,
            "rows"
        ),
        (.fileGet, #"{"type":"open","service":"file.get","window":0,"path":"a","offset":#}"#, "offset"),
        (.filePut, #"{"type":"open","service":"file.put","window":0,"path":"a","size":#}"#, "size"),
        (.filePut, #"{"type":"open","service":"file.put","window":0,"path":"a","size":1,"mode":#}"#, "mode"),
        (.forward, #"{"type":"open","service":"forward","window":0,"host":"h","port":#}"#, "port"),
        (.forward, #"{"type":"open","service":"forward","window":0,"host":"h","port":1,"originPort":#}"#, "originPort"),
        (.exec, #"{"type":"accept","window":0,"pid":#}"#, "pid"),
        (.fileGet, #"{"type":"accept","window":0,"size":10,"offset":#,"mode":420,"mtime":\#(mtime)}"#, "offset"),
        (.filePut, #"{"type":"accept","window":0,"offset":#}"#, "offset"),
        (.filePut, #"{"type":"done","size":#}"#, "size"),
        (.fileList, #"{"type":"done","skipped":#}"#, "skipped"),
        (.exec, #"{"type":"exec.resize","rows":24,"cols":#}"#, "cols"),
        (.exec, #"{"type":"exec.exit","status":#,"timedOut":false,"duration":0}"#, "status"),
        (
            .exec, #"{"type":"exec.exit","signal":"KILL","signalNumber":#,"timedOut":false,"duration":0}"#,
            "signalNumber"
        ),
        (.exec, #"{"type":"exec.exit","status":0,"timedOut":false,"duration":#}"#, "duration"),
        (.filePut, #"{"type":"file.begin","offset":#}"#, "offset"),
        (
            .fileList,
            #"{"type":"file.listing","entries":[{"path":"a","type":"file","size":#,"mode":420,"mtime":\#(mtime)}]}"#,
            "size"
        ),
        (
            .fileList,
            #"{"type":"file.listing","entries":[{"path":"a","type":"file","size":0,"mode":420,"mtime":{"seconds":0,"nanoseconds":#}}]}"#,
            "nanoseconds"
        ),
    ]

    /// What an attacker puts in a number member.
    static let extremes = [
        "0", "-0", "-1", "1", "0.5", "1.0", "1e3", "1e-300", "4294967295", "4294967296", "9007199254740991",
        "9007199254740992", "9223372036854775807", "9223372036854775808", "18446744073709551616", "1e19", "1e308",
        "-1e308", "1e400", #""NaN""#, #""7""#, "null", "[]", "{}", "true",
    ]

    @Test(arguments: 0..<templates.count)
    func extremeValuesAreInRangeOrRefusedByName(_ index: Int) {
        let template = Self.templates[index]
        for value in Self.extremes {
            let json = template.json.replacingOccurrences(of: "#", with: value)
            let payload = ByteBuffer(string: json)
            do {
                if let service = template.service {
                    let message = try ChannelMessage(payload: payload, service: service)
                    #expect((try? message.validate()) != nil, "\(json)")
                } else {
                    let message = try ConnectionMessage(payload: payload)
                    #expect((try? message.validate()) != nil, "\(json)")
                }
            } catch {
                #expect(error.code == .badMessage, "\(json)")
                // A value of the wrong JSON type is named by its coding path, which a member of an array lacks.
                #expect(
                    error.message.contains(template.member) || error.message.contains("not valid JSON")
                        || error.message.contains("wrong value"), "\(json): \(error.message)")
            }
            // The fuzz target's own properties, on the message framed on the channel that picks its service.
            let channel = template.service.map { UInt32(ChannelService.allCases.firstIndex(of: $0)! + 1) } ?? 0
            var frame = ByteBuffer()
            frame.writeMultipleIntegers(UInt8(1), UInt8(0), UInt32(payload.readableBytes), channel)
            frame.writeImmutableBuffer(payload)
            FuzzTarget.channelFrames(Array(frame.readableBytesView))
        }
    }
}
