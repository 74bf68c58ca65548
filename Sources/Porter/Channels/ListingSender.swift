import NIOCore
import PorterProtocol

/// A listing on a channel (`file.list`, docs/PROTOCOL.md section 5.4.4): its `file.listing` messages, each
/// cut to fit the client's `maxControlPayload`, then eof, `done` and close.
///
/// Each listing is written once the one before it has gone to the connection's socket, so a client that stops
/// reading holds up its listing rather than making the server queue all of it. (Credit does not help here: a
/// listing is messages, which need none.)
final class ListingSender: ChannelDuplexHandler {
    typealias InboundIn = ChannelContent
    typealias OutboundIn = ChannelContent
    typealias OutboundOut = ChannelContent

    /// The most names that are not UTF-8 a `done` lists (the others are only counted).
    static let maxSkippedNames = ChannelMessage.ListingEnd.maxSkippedNames

    /// A listing cut into its messages: work in proportion to the listing's size, so done on the thread pool
    /// with the listing itself, never on the event loop.
    struct Messages: Sendable {
        let kind: ControlMessage.FileType
        fileprivate let listings: [ChannelMessage.Listing]
        fileprivate let end: ChannelMessage.ListingEnd

        /// The messages of `listing` for a client that accepts control payloads of `maxPayload` bytes.
        init(_ listing: FileService.Listing, maxPayload: Int) {
            kind = listing.type
            var entries = listing.entries[...]
            var directory: ControlMessage.FileEntry?
            if listing.type == .directory, let first = entries.first, first.path == "." {
                directory = first
                entries = entries.dropFirst()
            }
            let (listings, tooLarge) = ChannelMessage.Listing.cut(entries, maxPayload: maxPayload)
            self.listings = listings
            let skipped = listing.skipped.count + tooLarge
            let names = Array(listing.skipped.prefix(ListingSender.maxSkippedNames))
            // At most 20 names of at most 255 bytes, each byte written at most as `\\xFF` in JSON: about 26 KB,
            // within the 65,536 bytes every client accepts.
            end = ChannelMessage.ListingEnd(
                directory: directory, skipped: skipped == 0 ? nil : skipped,
                skippedNames: names.isEmpty ? nil : names)
        }
    }

    private var listings: ArraySlice<ChannelMessage.Listing>
    private let end: ChannelMessage.ListingEnd

    init(_ messages: Messages) {
        listings = messages.listings[...]
        end = messages.end
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        writeNext(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The state machine lets no data or message of the client's reach a file.list channel.
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .inputClosed = event as? ChannelEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
    }

    private func writeNext(context: ChannelHandlerContext) {
        guard let listing = listings.popFirst() else {
            context.finishChannel(with: .done(.fileList(end)))
            return
        }
        context.writeAndFlush(wrapOutboundOut(.message(.fileListing(listing)))).assumeIsolated().whenSuccess {
            [self] in writeNext(context: context)
        }
    }
}
