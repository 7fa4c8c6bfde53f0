import CResolv
import NIOCore
import NIOPosix

/// One mail exchanger.
public struct MXRecord: Sendable, Hashable, Codable {
    public var preference: Int
    public var host: String
    public init(preference: Int, host: String) {
        self.preference = preference
        self.host = host
    }
}

/// Where mail for a domain goes (RFC 5321 §5.1, RFC 7505).
public enum MXAnswer: Sendable, Hashable {
    /// MX records, sorted by preference (ties keep the server's order).
    case exchangers([MXRecord])
    /// No MX but an address record: the domain itself is the implicit MX.
    case implicit(String)
    /// `MX 0 .`: the domain accepts no mail.
    case nullMX
}

/// Resolves MX and address records. Behind a protocol so that another
/// resolver (a NIO DNS client, a fake in tests) can replace libresolv.
public protocol MXResolver: Sendable {
    func mx(for domain: String) async throws -> MXAnswer
    /// A and AAAA addresses of `host`, IPv6 first when `preferIPv6`.
    func addresses(of host: String) async throws -> [String]
}

/// glibc's resolver through the C shim, with a fresh resolver state per call,
/// run on NIO's blocking thread pool. `server` overrides /etc/resolv.conf.
public struct LibresolvResolver: MXResolver {
    public var server: (host: String, port: Int)?
    public var timeoutSeconds: Int
    public var attempts: Int

    public init(server: (host: String, port: Int)? = nil, timeoutSeconds: Int = 5, attempts: Int = 2) {
        self.server = server
        self.timeoutSeconds = timeoutSeconds
        self.attempts = attempts
    }

    /// Parses `HOST[:PORT]`, `[v6]:PORT` or a bare IPv6 address; the host must
    /// be numeric (the resolver cannot resolve its own server's name).
    public static func parseServer(_ text: String) throws -> (host: String, port: Int) {
        guard let ep = HostPort.parse(text, defaultPort: 53) else {
            throw TransportError(
                .configuration, step: .dns, message: "--dns-server \(text.debugDescription) is not HOST[:PORT]")
        }
        guard HostPort.isIPLiteral(ep.host) else {
            throw TransportError(
                .configuration, step: .dns,
                message: "--dns-server needs a numeric address, not \(ep.host.debugDescription)")
        }
        return (ep.host, ep.port)
    }

    enum RecordType: Int32 {
        case a = 1, mx = 15, aaaa = 28
    }

    enum Outcome {
        case records([(Int, String)])
        case nxdomain
        case nodata
    }

    func query(_ name: String, _ type: RecordType) async throws -> Outcome {
        let server = self.server
        let timeout = Int32(timeoutSeconds)
        let attempts = Int32(self.attempts)
        return try await NIOThreadPool.singleton.runIfActive {
            let capacity = 64
            var records = [cresolv_record](repeating: cresolv_record(), count: capacity)
            let fqdn = name.hasSuffix(".") ? name : name + "."
            let n: Int32 = records.withUnsafeMutableBufferPointer { buf in
                if let server {
                    return cresolv_query(
                        fqdn, type.rawValue, server.host, UInt16(clamping: server.port), timeout, attempts,
                        buf.baseAddress, Int32(capacity))
                }
                return cresolv_query(fqdn, type.rawValue, nil, 0, timeout, attempts, buf.baseAddress, Int32(capacity))
            }
            switch n {
            case 0...:
                return .records(
                    records.prefix(Int(n)).map { rec in
                        var r = rec
                        let host = withUnsafeBytes(of: &r.name) { raw in
                            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                        }
                        return (Int(rec.preference), host)
                    })
            case Int32(CRESOLV_NXDOMAIN): return .nxdomain
            case Int32(CRESOLV_NODATA): return .nodata
            case Int32(CRESOLV_TRY_AGAIN):
                throw TransportError(
                    .resolutionFailed, step: .dns,
                    message: "DNS lookup of \(name) failed: server failure, refused or no answer (try again later)")
            case Int32(CRESOLV_BAD_SERVER):
                throw TransportError(.configuration, step: .dns, message: "the DNS server address is not numeric")
            default:
                throw TransportError(
                    .resolutionFailed, step: .dns, message: "DNS lookup of \(name) failed (unrecoverable error)")
            }
        }
    }

    public func mx(for domain: String) async throws -> MXAnswer {
        switch try await query(domain, .mx) {
        case .records(let recs) where !recs.isEmpty:
            // RFC 7505: a single MX with an empty exchange ("." ) is a null MX.
            if recs.contains(where: { $0.1.isEmpty || $0.1 == "." }) && recs.count == 1 { return .nullMX }
            let sorted = recs.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }
            return .exchangers(sorted.map { MXRecord(preference: $0.element.0, host: $0.element.1) })
        case .nxdomain:
            throw TransportError(.resolutionFailed, step: .dns, message: "\(domain) does not exist (NXDOMAIN)")
        case .records, .nodata:
            // Implicit MX (RFC 5321 §5.1): the domain's own address records.
            let addrs = try await addresses(of: domain)
            guard !addrs.isEmpty else {
                throw TransportError(
                    .resolutionFailed, step: .dns, message: "\(domain) has neither MX nor address records")
            }
            return .implicit(domain)
        }
    }

    public func addresses(of host: String) async throws -> [String] {
        if HostPort.isIPLiteral(host) { return [host] }
        var out: [String] = []
        var nx = false
        for type in [RecordType.a, .aaaa] {
            switch try await query(host, type) {
            case .records(let r): out += r.map(\.1)
            case .nxdomain: nx = true
            case .nodata: break
            }
            if nx { break }
        }
        if nx && out.isEmpty {
            throw TransportError(.resolutionFailed, step: .dns, message: "\(host) does not exist (NXDOMAIN)")
        }
        return out
    }
}

/// `host[:port]`, `[v6]:port`, bare IPv6.
public struct HostPort: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public static func parse(_ text: String, defaultPort: Int) -> HostPort? {
        guard !text.isEmpty, !text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else { return nil }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return HostPort(host: host, port: defaultPort) }
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (1...65535).contains(p) else { return nil }
            return HostPort(host: host, port: p)
        }
        let colons = text.filter { $0 == ":" }.count
        if colons > 1 { return HostPort(host: text, port: defaultPort) }  // bare IPv6
        if colons == 1 {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard !parts[0].isEmpty, let p = Int(parts[1]), (1...65535).contains(p) else { return nil }
            return HostPort(host: String(parts[0]), port: p)
        }
        return HostPort(host: text, port: defaultPort)
    }

    public static func isIPLiteral(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    public var display: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
