import NIOCore
import NIOHTTP1

/// The pipeline both HTTP front doors share, the HTTP endpoint and the classic http listener: the HTTP/1 codec
/// with header limits, a ``RequestHeadDeadline``, and the handler that answers.
enum HTTPPipeline {
    /// Adds the codec, limited to `maxHeaderBytes` of headers (request line included) in `maxHeaderFields` fields,
    /// a deadline of `requestHeadTimeout` seconds for each request head, and `handler`, to `channel`.
    static func setUp(
        _ channel: any Channel, maxHeaderBytes: Int, maxHeaderFields: Int, requestHeadTimeout: Double,
        handler: any ChannelHandler
    ) throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = maxHeaderBytes
        limits.maxHeaderFieldSize = maxHeaderBytes
        limits.maxHeaderFieldCount = maxHeaderFields
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(HTTPResponseEncoder())
        try pipeline.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits)))
        try pipeline.addHandler(HTTPServerPipelineHandler())
        try pipeline.addHandler(HTTPServerProtocolErrorHandler())
        try pipeline.addHandler(RequestHeadDeadline(timeout: TimeLimit.timeAmount(seconds: requestHeadTimeout)))
        try pipeline.addHandler(handler)
    }
}
