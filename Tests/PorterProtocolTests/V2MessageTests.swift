import NIOCore
import PorterProtocol
import Testing

/// Version 2's connection and channel messages: every example decodes, validates and re-encodes to an equal
/// message of the same length (members sorted by name, compact, `/` unescaped, numbers as written); integers only in
/// integer form and within ±(2^53−1); every range of section 6.2.
@Suite struct V2MessageTests {
    @Test(arguments: MessageExamples.connection)
    func everyConnectionExampleRoundTrips(_ json: String) throws {
        let message = try ConnectionMessage(payload: ByteBuffer(string: json))
        #expect(message.payload.readableBytes == json.utf8.count)
        #expect(try ConnectionMessage(frame: message.frame) == message)
    }

    @Test(arguments: MessageExamples.channel.map(\.json))
    func everyChannelExampleRoundTrips(_ json: String) throws {
        let service = try #require(MessageExamples.channel.first { $0.json == json }?.service)
        let message = try ChannelMessage(payload: ByteBuffer(string: json), service: service)
        #expect(message.payload.readableBytes == json.utf8.count)
        #expect(try ChannelMessage(frame: message.frame(channel: 5), service: service) == message)
    }

    @Test func membersMayComeInAnyOrderWithEscapesAndNulls() throws {
        let json = #"{"\u0069d":7,"extra":[1.5,{"x":null}],"type":"p\u006fng"}"#
        #expect(try ConnectionMessage(payload: ByteBuffer(string: json)) == .pong(.init(id: 7)))
        let open = #"{"window":0,"path":"a\/b","service":"file.list","recursive":null,"type":"open"}"#
        #expect(
            try ChannelMessage(payload: ByteBuffer(string: open), service: nil)
                == .open(.init(window: 0, parameters: .fileList(.init(path: "a/b")))))
    }

    @Test(arguments: ["1.0", "1e3", "1E3", "0.5e1", "-0.0", "1.", "7.0"])
    func anIntegerWithAFractionOrExponentIsRefused(_ number: String) {
        for json in [
            #"{"type":"ping","id":#}"#,
            #"{"type":"hello","versions":[#],"agent":"a","nonce":"\#(MessageExamples.nonce)"}"#,
            #"{"type":"global.ok","id":#}"#,
        ] {
            let payload = ByteBuffer(string: json.replacingOccurrences(of: "#", with: number))
            #expect(throws: ProtocolError.self) { try ConnectionMessage(payload: payload) }
        }
        let resize = ByteBuffer(
            string: #"{"type":"exec.resize","rows":#,"cols":80}"#.replacingOccurrences(of: "#", with: number))
        #expect(throws: ProtocolError.self) { try ChannelMessage(payload: resize, service: .exec) }
        let mtime =
            #"{"type":"accept","window":0,"size":1,"offset":0,"mode":420,"mtime":{"seconds":#,"nanoseconds":0}}"#
        #expect(throws: ProtocolError.self) {
            try ChannelMessage(
                payload: ByteBuffer(string: mtime.replacingOccurrences(of: "#", with: number)), service: .fileGet)
        }
    }

    @Test func durationsMayHaveFractionsAndExponents() throws {
        for (text, value) in [("0.5", 0.5), ("1e1", 10.0), ("30", 30.0), ("3.0E1", 30.0)] {
            let payload = ByteBuffer(string: #"{"type":"shutdown","grace":\#(text)}"#)
            #expect(try ConnectionMessage(payload: payload) == .shutdown(.init(grace: value)))
        }
    }

    @Test func integersReachTwoToThe53MinusOneAndNoFurther() throws {
        let largest = ByteBuffer(string: #"{"type":"ping","id":9007199254740991}"#)
        #expect(try ConnectionMessage(payload: largest) == .ping(.init(id: 9_007_199_254_740_991)))
        let negative = ByteBuffer(string: #"{"type":"keepalive","future":-9007199254740991}"#)
        #expect(try ConnectionMessage(payload: negative) == .keepalive)
        for json in [
            #"{"type":"ping","id":9007199254740992}"#, #"{"type":"global.ok","id":18446744073709551615}"#,
            #"{"type":"keepalive","future":-9007199254740992}"#,
        ] {
            #expect(
                throws: ProtocolError(
                    .badMessage,
                    "'\(json.contains("future") ? "future" : "id")' is beyond ±9007199254740991 (2^53−1), the range of every JSON integer"
                )
            ) {
                try ConnectionMessage(payload: ByteBuffer(string: json))
            }
        }
        let size = #"{"type":"open","service":"file.put","window":0,"path":"a","size":9007199254740992}"#
        #expect(throws: ProtocolError.self) { try ChannelMessage(payload: ByteBuffer(string: size), service: nil) }
    }

    /// Each of these is one member out of its range (or of the wrong form); every one is `bad-message`.
    static let outOfRange: [(ChannelService?, String)] = [
        (nil, #"{"type":"hello","versions":[],"agent":"a","nonce":"\#(MessageExamples.nonce)"}"#),
        (nil, #"{"type":"hello","versions":[65536],"agent":"a","nonce":"\#(MessageExamples.nonce)"}"#),
        (nil, #"{"type":"hello","versions":[2],"agent":"a","nonce":"AAAA"}"#),
        (
            nil,
            #"{"type":"hello","versions":[2],"agent":"a","nonce":"\#(MessageExamples.nonce)","limits":{"maxControlPayload":65535,"maxDataPayload":16384}}"#
        ),
        (
            nil,
            #"{"type":"hello","versions":[2],"agent":"a","nonce":"\#(MessageExamples.nonce)","limits":{"maxControlPayload":65536,"maxDataPayload":16383}}"#
        ),
        (
            nil,
            #"{"type":"hello","versions":[2],"agent":"a","nonce":"\#(MessageExamples.nonce)","limits":{"maxControlPayload":4294967296,"maxDataPayload":16384}}"#
        ),
        (nil, welcome("maxChannels", 0)), (nil, welcome("maxChannels", 2_147_483_648)),
        (nil, welcome("initialWindow", 0)), (nil, welcome("maxWindow", 262_143)),
        (nil, welcome("maxWindow", 4_294_967_296)), (nil, welcome("maxGlobalRequests", 65_537)),
        (nil, welcome("idleTimeout", -1)), (nil, welcome("idleTimeout", 31_536_001)),
        (nil, welcome("maxDataPayload", 16_383)),
        (nil, #"{"type":"auth","method":"hmac-sha256","proof":"AAAA"}"#),
        (nil, #"{"type":"shutdown","grace":-1}"#),
        (nil, #"{"type":"shutdown","grace":31536001}"#),
        (nil, #"{"type":"shutdown","grace":"30"}"#),
        (nil, #"{"type":"global","id":1,"name":"file.attrs","path":"a","mode":4096}"#),
        (nil, #"{"type":"open","service":"echo","window":4294967296}"#),
        (nil, #"{"type":"open","service":"echo","window":-1}"#),
        (nil, #"{"type":"open","service":"exec","window":0,"argv":[],"timeout":0}"#),
        (nil, #"{"type":"open","service":"exec","window":0,"argv":[],"pty":{"term":"x","rows":0,"cols":80}}"#),
        (
            nil,
            #"{"type":"open","service":"file.get","window":0,"path":"a","offset":1,"prefix":"ABCDEF0123456789abcdef0123456789"}"#
        ),
        (
            nil,
            #"{"type":"open","service":"file.get","window":0,"path":"a","offset":1,"prefix":"0123456789abcdef0123456789abcdef","checksum":"sha256"}"#
        ),
        (nil, #"{"type":"open","service":"file.put","window":0,"path":"a","size":1,"mode":4096}"#),
        (
            nil,
            #"{"type":"open","service":"file.put","window":0,"path":"a","size":1,"mtime":{"seconds":0,"nanoseconds":1000000000}}"#
        ),
        (nil, #"{"type":"open","service":"forward","window":0,"host":"","port":80}"#),
        (nil, #"{"type":"open","service":"forward","window":0,"host":"h","port":0}"#),
        (nil, #"{"type":"open","service":"forward","window":0,"host":"h","port":80,"originPort":65536}"#),
        (.exec, #"{"type":"accept","window":0,"pid":2147483648}"#),
        (
            .fileGet,
            #"{"type":"accept","window":0,"size":1,"offset":2,"mode":420,"mtime":{"seconds":0,"nanoseconds":0}}"#
        ),
        (.fileList, #"{"type":"accept","window":0,"kind":"symlink"}"#),
        (.fileGet, #"{"type":"done","digest":"xyz"}"#),
        (
            .fileList,
            #"{"type":"done","skippedNames":[\#(Array(repeating: #""a""#, count: 21).joined(separator: ","))]}"#
        ),
        (.exec, #"{"type":"exec.resize","rows":10001,"cols":80}"#),
        (.exec, #"{"type":"exec.exit","status":256,"timedOut":false,"duration":0}"#),
        (.exec, #"{"type":"exec.exit","status":0,"timedOut":false,"duration":-0.5}"#),
        (.filePut, #"{"type":"file.begin","offset":-1}"#),
    ]

    /// A `welcome` with the default limits but `member` set to `value`.
    static func welcome(_ member: String, _ value: Int) -> String {
        var limits = [
            "maxControlPayload": 65_536, "maxDataPayload": 1_048_576, "idleTimeout": 300, "maxChannels": 128,
            "initialWindow": 262_144, "maxWindow": 4_194_304, "maxGlobalRequests": 16,
        ]
        limits[member] = value
        let members = limits.map { #""\#($0.key)":\#($0.value)"# }.joined(separator: ",")
        return
            #"{"type":"welcome","version":2,"agent":"a","server":"s","nonce":"\#(MessageExamples.nonce)","auth":[],"limits":{\#(members)}}"#
    }

    @Test func theDefaultLimitsAreThoseOfTheDesign() throws {
        let decoded = try ConnectionMessage(payload: ByteBuffer(string: Self.welcome("maxChannels", 128)))
        guard case .welcome(let welcome) = decoded else { throw ProtocolError(.internal, "not a welcome") }
        #expect(welcome.limits == ConnectionMessage.Limits())
        #expect(
            ChannelLimits()
                == ChannelLimits(maxChannels: 128, initialWindow: 262_144, maxWindow: 4_194_304, maxGlobalRequests: 16))
    }

    @Test(arguments: 0..<outOfRange.count)
    func aMemberOutOfItsRangeIsABadMessage(_ index: Int) {
        let (service, json) = Self.outOfRange[index]
        let payload = ByteBuffer(string: json)
        #expect {
            if json.contains(#""type":"hello""#) || json.contains(#""type":"auth""#)
                || json.contains(#""type":"welcome""#)
                || json.contains(#""type":"shutdown""#) || json.contains(#""type":"global""#)
            {
                _ = try ConnectionMessage(payload: payload)
            } else {
                _ = try ChannelMessage(payload: payload, service: service)
            }
        } throws: { error in
            (error as? ProtocolError)?.code == .badMessage
        }
    }

    @Test func unknownServicesAndRequestsDecodeSoThatTheyCanBeRefused() throws {
        let open = try ChannelMessage(
            payload: ByteBuffer(string: #"{"type":"open","service":"sftp","window":0}"#), service: nil)
        #expect(open == .open(.init(window: 0, parameters: .unknown(service: "sftp"))))
        #expect(String(buffer: open.payload) == #"{"service":"sftp","type":"open","window":0}"#)
        let global = try ConnectionMessage(payload: ByteBuffer(string: #"{"type":"global","id":9,"name":"x"}"#))
        #expect(global == .global(.init(id: 9, request: .unknown(name: "x"))))
    }

    @Test func acceptAndDoneNeedTheChannelsService() {
        for json in [#"{"type":"accept","window":0}"#, #"{"type":"done"}"#] {
            #expect(
                throws: ProtocolError(
                    .unexpectedMessage,
                    "'\(json.contains("accept") ? "accept" : "done")' on a channel that has no service")
            ) {
                try ChannelMessage(payload: ByteBuffer(string: json), service: nil)
            }
        }
        // The same `accept` means other things on other channels: pid is exec's, kind is file.list's.
        #expect(throws: ProtocolError.self) {
            try ChannelMessage(
                payload: ByteBuffer(string: #"{"type":"accept","window":0,"kind":"file"}"#), service: .exec)
        }
    }

    @Test func unknownTypesAndVersionOneMessagesAreBadMessages() {
        for json in [#"{"type":"exec.window","bytes":1}"#, #"{"type":"echo"}"#, #"{"type":"open"}"#, "[]", "{"] {
            #expect(throws: ProtocolError.self) { try ConnectionMessage(payload: ByteBuffer(string: json)) }
        }
        for json in [#"{"type":"file.header","size":1}"#, #"{"type":"ping","id":1}"#, #"{"type":"chat.leave"}"#] {
            #expect(throws: ProtocolError.self) {
                try ChannelMessage(payload: ByteBuffer(string: json), service: .chat)
            }
        }
    }

    @Test func porterWritesMembersSortedAndSlashesUnescaped() {
        let open = ChannelMessage.open(.init(window: 0, parameters: .fileList(.init(path: "a/b", recursive: true))))
        #expect(
            String(buffer: open.payload)
                == #"{"path":"a/b","recursive":true,"service":"file.list","type":"open","window":0}"#)
    }

    @Test func framesAreOnTheRightChannels() {
        #expect(throws: ProtocolError.self) {
            try ConnectionMessage(frame: ConnectionMessage.keepalive.frame(onChannel: 1))
        }
        #expect(throws: ProtocolError.self) {
            try ChannelMessage(frame: ChannelMessage.chatWho.frame(channel: 0), service: .chat)
        }
    }
}

extension ConnectionMessage {
    fileprivate func frame(onChannel channel: UInt32) -> Frame {
        var frame = self.frame
        frame.channel = channel
        return frame
    }
}
