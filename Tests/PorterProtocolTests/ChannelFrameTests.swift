import NIOCore
import NIOTestUtils
import PorterProtocol
import Testing

/// The channel form of version 2's frames: the vectors of section 10.1, every header check at the byte that
/// decides it, and round trips through the encoder.
@Suite struct ChannelFrameTests {
    @Test(arguments: FrameVectors.accepted)
    func everyVectorDecodesToItsValues(_ vector: FrameVectors.Accepted) throws {
        var buffer = ByteBuffer(bytes: FrameVectors.bytes(vector.hex))
        var decoder = FrameDecoder(form: vector.form)
        let frame = try #require(try decoder.decode(buffer: &buffer))
        #expect(buffer.readableBytes == 0)
        #expect(frame.kind == vector.kind)
        #expect(frame.stream.rawValue == vector.stream)
        #expect(frame.channel == vector.channel)
        #expect(Array(frame.payload.readableBytesView) == vector.payload)
        #expect(Array(frame.encoded(form: vector.form).readableBytesView) == FrameVectors.bytes(vector.hex))
    }

    @Test func theWindowVectorGrantsItsCredit() {
        #expect(Frame.window(524_288, channel: 1).windowCredit == 524_288)
        #expect(
            Frame.window(524_288, channel: 1).encoded(form: .channels)
                == ByteBuffer(
                    bytes: FrameVectors.bytes(
                        "03 00 00 00 00 04 00 00 00 01 00 08 00 00")))
    }

    /// Each rejection is refused once the byte that decides it has arrived, and not before: with one byte less
    /// the decoder waits, having consumed nothing.
    @Test(arguments: FrameVectors.rejected)
    func everyRejectionHasItsCodeAtItsByte(_ vector: FrameVectors.Rejected) throws {
        let bytes = FrameVectors.bytes(vector.hex)
        var short = ByteBuffer(bytes: bytes.prefix(vector.decidedAfter - 1))
        var waiting = FrameDecoder(form: .channels)
        #expect(try waiting.decode(buffer: &short) == nil)
        #expect(short.readerIndex == 0 || vector.decidedAfter > Frame.channelHeaderLength)
        var decided = ByteBuffer(bytes: bytes.prefix(vector.decidedAfter))
        var decoder = FrameDecoder(form: .channels)
        #expect {
            try decoder.decode(buffer: &decided)
        } throws: { error in
            (error as? ProtocolError)?.code == vector.code
        }
    }

    @Test func decodesChannelFramesFedOneByteAtATimeAndManyPerBuffer() throws {
        let frames = [
            ConnectionMessage.keepalive.frame,
            Frame.data(ByteBuffer(string: "hello"), stream: .output, channel: 7),
            Frame.window(UInt32.max, channel: 0x7FFF_FFFF),
            Frame.eof(channel: 1),
            Frame.close(channel: 2),
            Frame.data(ByteBuffer(repeating: 0xAB, count: 3000), channel: 3),
        ]
        let pairs = frames.map { ($0.encoded(form: .channels), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            FrameDecoder(form: .channels)
        }
    }

    @Test func theChannelFormAppliesEachLimitToItsKind() throws {
        let limits = FrameLimits(maxControlPayload: 100, maxDataPayload: 200)
        for (kind, length, code) in [
            (UInt8(0x01), UInt32(101), ProtocolError.Code.frameTooLarge), (0x02, 201, .frameTooLarge),
            (0x01, 0, .badFrame), (0x03, 5, .badFrame), (0x04, 1, .badFrame), (0x05, UInt32.max, .badFrame),
        ] {
            var buffer = ByteBuffer()
            buffer.writeMultipleIntegers(kind, UInt8(0), length, UInt32(1))
            var decoder = FrameDecoder(limits: limits, form: .channels)
            #expect {
                try decoder.decode(buffer: &buffer)
            } throws: { error in
                (error as? ProtocolError)?.code == code
            }
        }
        var atLimit = Frame.data(ByteBuffer(repeating: 1, count: 200), channel: 1).encoded(form: .channels)
        var decoder = FrameDecoder(limits: limits, form: .channels)
        #expect(try decoder.decode(buffer: &atLimit)?.payload.readableBytes == 200)
    }

    @Test func streamsOtherThanZeroAreOnlyForData() throws {
        for kind in [UInt8(0x03), 0x04, 0x05] {
            var buffer = ByteBuffer(bytes: [kind, 1])
            var decoder = FrameDecoder(form: .channels)
            #expect(throws: ProtocolError.self) { try decoder.decode(buffer: &buffer) }
        }
    }

    @Test func theHandshakeFormStillRefusesTheChannelKinds() {
        for kind in [UInt8(0x03), 0x04, 0x05] {
            var buffer = ByteBuffer(bytes: [kind, 0, 0, 0, 0, 0])
            var decoder = FrameDecoder()
            #expect(throws: ProtocolError.self) { try decoder.decode(buffer: &buffer) }
        }
    }

    @Test func aDecoderSwitchesFormBetweenFrames() throws {
        var buffer = ConnectionMessage.keepalive.frame.encoded()
        buffer.writeImmutableBuffer(Frame.eof(channel: 9).encoded(form: .channels))
        var decoder = FrameDecoder()
        #expect(try decoder.decode(buffer: &buffer) == ConnectionMessage.keepalive.frame)
        decoder.form = .channels
        #expect(try decoder.decode(buffer: &buffer) == Frame.eof(channel: 9))
    }

    @Test func aTruncatedChannelFrameAtEndOfStreamIsAnError() {
        var decoder = FrameDecoder(form: .channels)
        var header = ByteBuffer(bytes: [0x02, 0, 0, 0, 0, 3, 0, 0])
        #expect(throws: ProtocolError.self) { try decoder.decodeLast(buffer: &header, seenEOF: true) }
        var fresh = FrameDecoder(form: .channels)
        var payload = ByteBuffer(bytes: FrameVectors.bytes("02 00 00 00 00 03 00 00 00 01 68"))
        #expect(throws: ProtocolError.self) { try fresh.decodeLast(buffer: &payload, seenEOF: true) }
    }
}
