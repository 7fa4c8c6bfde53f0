import Foundation

/// Writes `EHLO a` lines to 127.0.0.1:`port` without reading, for at most
/// `seconds` or `limit` octets (each new connection when the listener closes
/// one); returns how many octets the kernel took.
public func floodWithoutReading(port: Int, seconds: Double, limit: Int) async throws -> Int {
    let chunk = Array(String(repeating: "EHLO a\r\n", count: 8192).utf8)
    var sent = 0
    let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while sent < limit && ContinuousClock.now < end {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { break }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard ok == 0 else { break }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        while sent < limit && ContinuousClock.now < end {
            let n = chunk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                try await Task.sleep(for: .milliseconds(10))
            } else {
                break  // closed by the listener (too many commands): connect again
            }
        }
    }
    return sent
}
