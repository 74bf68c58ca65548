import NIOCore
import NIOPosix
import NIOSSL
import PorterProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One line for a person about any error: what the system, NIO or TLS said, in words, never a Swift type name or
/// a dump.
public enum ErrorText {
    /// What `error` means, as the end of a sentence such as "cannot connect to HOST: …".
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let error as PorterError: return error.message
        case let error as ProtocolError: return error.message
        case let error as IOError: return String(cString: strerror(error.errnoCode))
        case let error as ChannelError: return describe(error)
        case let error as SocketAddressError.UnknownHost: return "cannot resolve the host name \(error.host)"
        case let error as SocketAddressError: return describe(error)
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first?.error { return describe(first) }
            return "cannot resolve the host name \(error.host)"
        case is UnixDomainSocketPathWrongType: return "the path exists and is not a socket"
        case is NIOSSLError, is BoringSSLError: return "the TLS handshake failed"
        case is CancellationError: return "interrupted"
        default: return "unexpected failure"
        }
    }

    private static func describe(_ error: ChannelError) -> String {
        switch error {
        case .connectTimeout: "timed out"
        case .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof: "the connection was closed"
        case .writeMessageTooLarge: "a message too large to send"
        case .writeHostUnreachable: "the host is unreachable"
        default: "the connection failed"
        }
    }

    private static func describe(_ error: SocketAddressError) -> String {
        switch error {
        case .unknown: "cannot resolve the host name"
        case .unsupported: "an address of a kind this system does not support"
        case .unixDomainSocketPathTooLong: "the socket path is too long"
        case .failedToParseIPString(let text): "\(text) is not an IP address"
        }
    }
}
