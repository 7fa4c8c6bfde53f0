import Foundation
import NIOCore
import NIOPosix

/// The addresses to try for a host name: an IP literal as it is, else the
/// given resolver's A/AAAA records (the test DNS server), else the system's
/// (getaddrinfo, on NIO's blocking thread pool).
enum HostAddresses {
    static func resolve(_ host: String, resolver: (any MXResolver)?) async throws -> [String] {
        if HostPort.isIPLiteral(host) { return [host] }
        if let resolver {
            let addresses = try await resolver.addresses(of: host)
            guard !addresses.isEmpty else {
                throw TransportError(.resolutionFailed, step: .dns, message: "\(host) has no address records")
            }
            return addresses
        }
        let all = try await system(host)
        guard !all.isEmpty else {
            throw TransportError(.resolutionFailed, step: .dns, message: "cannot resolve \(host)")
        }
        return all
    }

    /// getaddrinfo's stream addresses for `host`, without duplicates, in its order.
    static func system(_ host: String) async throws -> [String] {
        try await NIOThreadPool.singleton.runIfActive { () -> [String] in
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var res: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &res) == 0, let first = res else { return [] }
            defer { freeaddrinfo(first) }
            var out: [String] = []
            var p: UnsafeMutablePointer<addrinfo>? = first
            while let ai = p {
                if let sa = ai.pointee.ai_addr {
                    var ip: SocketAddress?
                    if sa.pointee.sa_family == sa_family_t(AF_INET) {
                        ip = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                            SocketAddress($0.pointee, host: host)
                        }
                    } else if sa.pointee.sa_family == sa_family_t(AF_INET6) {
                        ip = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                            SocketAddress($0.pointee, host: host)
                        }
                    }
                    if let text = ip?.ipAddress, !out.contains(text) { out.append(text) }
                }
                p = ai.pointee.ai_next
            }
            return out
        }
    }
}
