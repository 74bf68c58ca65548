import NIOCore
import NIOTestUtils
import PorterProtocol
import Testing

@Suite struct FrameDecoderTests {
    private func header(kind: UInt8, stream: UInt8 = 0, length: UInt32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeMultipleIntegers(kind, stream, length)
        return buffer
    }

    @Test func decodesFramesFedOneByteAtATimeAndManyPerBuffer() throws {
        let frames = [
            ConnectionMessage.keepalive.frame,
            Frame.data(ByteBuffer(string: "hello"), stream: .output),
            Frame.data(ByteBuffer(), stream: .error),
            Frame.data(ByteBuffer(repeating: 0xAB, count: 3000)),
        ]
        let pairs = frames.map { ($0.encoded(), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            FrameDecoder()
        }
    }

    @Test func rejectsOversizedLengthAsSoonAsTheHeaderArrives() {
        var decoder = FrameDecoder(limits: FrameLimits(maxControlPayload: 1024, maxDataPayload: 4096))
        var buffer = header(kind: 0x01, length: UInt32.max)
        #expect(throws: ProtocolError.self) { try decoder.decode(buffer: &buffer) }
        do {
            var data = header(kind: 0x02, length: 4097)
            _ = try FrameDecoder(limits: FrameLimits(maxDataPayload: 4096)).decodeCopy(&data)
            Issue.record("4097-byte data frame accepted")
        } catch {
            #expect(error.code == .frameTooLarge)
        }
    }

    @Test func acceptsAFrameExactlyAtTheLimit() throws {
        let frame = Frame.data(ByteBuffer(repeating: 1, count: 4096))
        var buffer = frame.encoded()
        var decoder = FrameDecoder(limits: FrameLimits(maxDataPayload: 4096))
        #expect(try decoder.decode(buffer: &buffer) == frame)
    }

    @Test(arguments: [UInt8(0x00), 0x03, 0x16, 0x47, 0xFF])
    func rejectsUnknownKinds(kind: UInt8) {
        var buffer = header(kind: kind, length: 1)
        var decoder = FrameDecoder()
        #expect(
            throws: ProtocolError(
                .badFrame, "unknown frame kind 0x\(String(kind, radix: 16)); is this a Porter client?")
        ) {
            try decoder.decode(buffer: &buffer)
        }
    }

    @Test func rejectsControlFramesOnOtherStreams() {
        var buffer = header(kind: 0x01, stream: 1, length: 2)
        var decoder = FrameDecoder()
        #expect(throws: ProtocolError.self) { try decoder.decode(buffer: &buffer) }
    }

    @Test func waitsForThePayloadWithoutConsumingIt() throws {
        var decoder = FrameDecoder()
        var buffer = header(kind: 0x02, length: 10)
        buffer.writeString("12345")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 5)
        buffer.writeString("67890")
        #expect(try decoder.decode(buffer: &buffer) == .data(ByteBuffer(string: "1234567890")))
    }

    @Test func aTruncatedFrameAtEndOfStreamIsAnError() {
        var decoder = FrameDecoder()
        var buffer = header(kind: 0x02, length: 10)
        buffer.writeString("123")
        #expect(throws: ProtocolError.self) { try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
        var partialHeader = ByteBuffer(bytes: [0x01, 0x00, 0x00])
        var fresh = FrameDecoder()
        #expect(throws: ProtocolError.self) { try fresh.decodeLast(buffer: &partialHeader, seenEOF: true) }
    }
}

extension FrameDecoder {
    fileprivate func decodeCopy(_ buffer: inout ByteBuffer) throws(ProtocolError) -> Frame? {
        var decoder = self
        do { return try decoder.decode(buffer: &buffer) } catch let error as ProtocolError { throw error } catch {
            throw ProtocolError(.internal, "\(error)")
        }
    }
}
