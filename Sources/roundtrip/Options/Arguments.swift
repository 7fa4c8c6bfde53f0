import ArgumentParser
import Foundation
import MailTransport
import MailboxCore
import RoundtripCore
import SMTPCore

// Option values parsed once, by ArgumentParser: the commands see typed values, never strings
// to parse again. A value that does not parse is a usage error (64).

/// A length of time: `90s`, `10m`, `1h`, `30d`, `500ms`, or plain seconds.
struct DurationArgument: ExpressibleByArgument, Hashable, Sendable {
    var duration: Duration
    /// As written, for the help's "(default: 10m)".
    var text: String

    init(_ duration: Duration, text: String) {
        self.duration = duration
        self.text = text
    }

    init?(argument: String) {
        let t = argument.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        var seconds: Double?
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            let number = t.dropLast(suffix.count)
            if suffix == "s" && number.hasSuffix("m") { continue }
            guard let v = Double(number) else { return nil }
            seconds = v * factor
            break
        }
        if seconds == nil { seconds = Double(t) }
        guard let s = seconds, s >= 0, s.isFinite, s < 1e9 else { return nil }
        duration = .milliseconds(Int64((s * 1000).rounded()))
        text = argument
    }

    var defaultValueDescription: String { text }

    var seconds: Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
}

/// A server: `HOST[:PORT]` or `[IPv6]:PORT`; the port may be left to the command's default.
struct ServerArgument: ExpressibleByArgument, Hashable, Sendable {
    var host: String
    var port: Int?

    init?(argument: String) {
        // 0 is never a port given by the user; it stands for "none given".
        guard let hp = HostPort.parse(argument, defaultPort: 0) else { return nil }
        host = hp.host
        port = hp.port == 0 ? nil : hp.port
    }

    func hostPort(defaultPort: Int) -> HostPort { HostPort(host: host, port: port ?? defaultPort) }
}

/// An address to listen on: `HOST:PORT` or `[IPv6]:PORT` (port 0: one the system picks).
struct BindArgument: ExpressibleByArgument, Hashable, Sendable {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init?(argument s: String) {
        let host: Substring
        let portText: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]"), s[s.index(after: close)...].hasPrefix(":") else { return nil }
            host = s[s.index(after: s.startIndex)..<close]
            portText = s[s.index(close, offsetBy: 2)...]
        } else {
            guard let colon = s.lastIndex(of: ":") else { return nil }
            host = s[..<colon]
            portText = s[s.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        self.host = String(host)
        self.port = port
    }

    var hostPort: HostPort { HostPort(host: host, port: port) }

    var defaultValueDescription: String { hostPort.display }
}

/// simulate's `--route DOMAIN=HOST:PORT`.
struct RouteArgument: ExpressibleByArgument, Hashable, Sendable {
    var domain: String
    var target: HostPort

    init?(argument s: String) {
        guard let eq = s.firstIndex(of: "=") else { return nil }
        let domain = s[..<eq].lowercased()
        guard !domain.isEmpty, let bind = BindArgument(argument: String(s[s.index(after: eq)...])) else { return nil }
        self.domain = domain
        self.target = bind.hostPort
    }
}

/// A day, `YYYY-MM-DD`, as its first instant in UTC.
struct DayArgument: ExpressibleByArgument, Hashable, Sendable {
    var date: Date

    init?(argument s: String) {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2])
        else { return nil }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC") ?? cal.timeZone
        var c = DateComponents()
        c.year = y
        c.month = m
        c.day = d
        guard (1...12).contains(m), (1...31).contains(d), let date = cal.date(from: c),
            cal.component(.day, from: date) == d
        else { return nil }
        self.date = date
    }
}

// Mailboxes, NOTIFY, mailbox URLs and headers keep their parser's reason when they do not parse:
// the options that take them say `transform: T.argument`, and ArgumentParser prints "The value
// ... is invalid for '--to <address>': REASON" (an `ExpressibleByArgument` type can only say
// "invalid").

extension SMTPMailbox {
    static func argument(_ text: String) throws -> SMTPMailbox { try SMTPMailbox(text) }
}

extension DSNNotify {
    static func argument(_ text: String) throws -> DSNNotify { try DSNNotify(parsing: text) }
}

/// `--ret hdrs|full` (any case).
extension DSNReturn: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument.lowercased() {
        case "hdrs": self = .headers
        case "full": self = .full
        default: return nil
        }
    }

    public var defaultValueDescription: String { rawValue.lowercased() }
    public static var allValueStrings: [String] { ["hdrs", "full"] }
}

/// `imap[s]://USER@HOST[:PORT]/MAILBOX` or `pop3[s]://USER@HOST[:PORT]`, and the text as given
/// (poll's output names the mailbox as the user wrote it).
struct MailboxURLArgument: Hashable, Sendable {
    var url: MailboxURL
    var text: String

    private init(url: MailboxURL, text: String) {
        self.url = url
        self.text = text
    }

    static func argument(_ text: String) throws -> MailboxURLArgument {
        MailboxURLArgument(url: try MailboxURL(parsing: text), text: text)
    }
}

/// `--header "Name: value"`.
struct HeaderArgument: Hashable, Sendable {
    var name: String
    var value: String

    static func argument(_ text: String) throws -> HeaderArgument {
        let h = try ProbeBuilder.parseHeader(text)
        return HeaderArgument(name: h.name, value: h.value)
    }
}
