import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Serves the HTTP endpoint: `GET /` the status page, `/status.json` its data, `/healthz` and `/metrics`.
final class StatusHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// What the handler needs from the server.
    struct Source: Sendable {
        var status: @Sendable () -> ServerStatus
        var metrics: @Sendable () -> String
        var requests: @Sendable () -> Void
    }

    private let source: Source
    private let maxBodyBytes: Int
    private var head: HTTPRequestHead?
    private var bodyBytes = 0

    init(source: Source, maxBodyBytes: Int) {
        self.source = source
        self.maxBodyBytes = maxBodyBytes
    }

    /// Adds the HTTP codec with `configuration`'s limits, its request-head deadline, and the handler to `channel`
    /// (the connection cap and the idle timeout come first, from the listener).
    static func setUp(_ channel: any Channel, configuration: HTTPConfiguration, source: Source) throws {
        try HTTPPipeline.setUp(
            channel, maxHeaderBytes: configuration.maxHeaderBytes, maxHeaderFields: configuration.maxHeaderFields,
            requestHeadTimeout: configuration.requestHeadTimeout,
            handler: StatusHTTPHandler(source: source, maxBodyBytes: configuration.maxBodyBytes))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
        case .body(let bytes):
            bodyBytes += bytes.readableBytes
            if bodyBytes > maxBodyBytes, head != nil {
                head = nil
                respond(
                    context, status: .payloadTooLarge, type: "text/plain", body: "request body too large\n", close: true
                )
            }
        case .end:
            guard let head else { return }
            self.head = nil
            source.requests()
            route(context, head)
        }
    }

    private func route(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        guard head.method == .GET || head.method == .HEAD else {
            respond(
                context, status: .methodNotAllowed, type: "text/plain", body: "only GET and HEAD\n", head: head,
                extra: [("Allow", "GET, HEAD")])
            return
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        switch path {
        case "/":
            respond(context, status: .ok, type: "text/html; charset=utf-8", body: StatusPage.html, head: head)
        case "/status.json":
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            let body = (try? encoder.encode(source.status())).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            respond(context, status: .ok, type: "application/json", body: body, head: head)
        case "/healthz":
            respond(context, status: .ok, type: "text/plain", body: "ok\n", head: head)
        case "/metrics":
            respond(
                context, status: .ok, type: "text/plain; version=0.0.4; charset=utf-8", body: source.metrics(),
                head: head)
        default:
            respond(context, status: .notFound, type: "text/plain", body: "not found\n", head: head)
        }
    }

    private func respond(
        _ context: ChannelHandlerContext, status: HTTPResponseStatus, type: String, body: String,
        head: HTTPRequestHead? = nil, extra: [(String, String)] = [], close: Bool = false
    ) {
        let bytes = ByteBuffer(string: body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(bytes.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(
            name: "Content-Security-Policy",
            value: "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'")
        for (name, value) in extra { headers.add(name: name, value: value) }
        let keepAlive = !close && (head?.isKeepAlive ?? false)
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if head?.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}
