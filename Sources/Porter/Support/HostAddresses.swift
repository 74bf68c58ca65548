#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The addresses a host name or address text stands for, as the system resolver gives them.
package enum HostAddresses {
    /// The raw addresses of `host`: 4 bytes for IPv4, 16 for IPv6; empty if it resolves to nothing.
    ///
    /// Blocks while the resolver works (a name may need DNS): call it at start-up, never on an event loop.
    package static func resolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [[UInt8]] = []
        var entry = list
        while let info = entry?.pointee {
            entry = info.ai_next
            guard let address = info.ai_addr else { continue }
            switch info.ai_family {
            case AF_INET:
                var raw = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                addresses.append(withUnsafeBytes(of: &raw) { Array($0) })
            case AF_INET6:
                var raw = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                addresses.append(withUnsafeBytes(of: &raw) { Array($0) })
            default:
                continue
            }
        }
        return addresses
    }

    /// Whether `address` (4 or 16 bytes, network order) is a loopback address: 127.0.0.0/8, ::1, or an IPv4
    /// loopback address mapped into IPv6 (`::ffff:127.x.y.z`).
    package static func isLoopback(_ address: [UInt8]) -> Bool {
        switch address.count {
        case 4:
            return address[0] == 127
        case 16:
            if address[0..<15].allSatisfy({ $0 == 0 }) && address[15] == 1 { return true }
            return address[0..<10].allSatisfy { $0 == 0 } && address[10] == 0xff && address[11] == 0xff
                && address[12] == 127
        default:
            return false
        }
    }
}
