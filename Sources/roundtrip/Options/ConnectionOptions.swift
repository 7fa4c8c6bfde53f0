import ArgumentParser
import Foundation
import MailTransport
import NIOCore
import SMTPCore

/// How to talk to an SMTP server: shared by `check`, `verify` and `send`.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Our EHLO name (default: this machine's host name).")
    var helo: String?

    @Option(help: "TLS transport: starttls, or implicit (TLS from the first byte, port 465).")
    var tls: TLSTransport = .starttls

    @OptionGroup var tlsOptions: TLSOptions

    @Option(help: "Authenticate as this user (AUTH PLAIN or LOGIN).")
    var auth: String?

    @Option(name: .customLong("auth-mechanism"), help: "PLAIN or LOGIN (default: PLAIN when offered).")
    var authMechanism: String?

    @Option(name: .customLong("password-file"), help: "File holding the AUTH password (else ROUNDTRIP_PASSWORD).")
    var passwordFile: String?

    @Option(help: "Seconds to wait for each step (default: RFC 5321's per-command minimums).")
    var timeout: Double?

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for the TCP connection (default 30).")
    var connectTimeout: Double?

    @Option(
        name: .customLong("dns-server"), help: "Resolve MX and host names with this DNS server, HOST[:PORT] (numeric).")
    var dnsServer: String?

    func validate() throws {
        if let helo { do { _ = try SMTPCommand.ehlo(helo).line() } catch { throw ValidationError("--helo: \(error)") } }
        if let m = authMechanism, !["PLAIN", "LOGIN"].contains(m.uppercased()) {
            throw ValidationError("--auth-mechanism must be PLAIN or LOGIN")
        }
        if let t = timeout, !(t > 0) { throw ValidationError("--timeout must be positive") }
        if let t = connectTimeout, !(t > 0) { throw ValidationError("--connect-timeout must be positive") }
    }

    var heloName: String { helo ?? Self.localHostName() }

    var timeouts: SMTPTimeouts {
        var t = timeout.map { SMTPTimeouts(all: .nanoseconds(Int64($0 * 1e9))) } ?? SMTPTimeouts()
        if let connectTimeout { t.connect = .nanoseconds(Int64(connectTimeout * 1e9)) }
        return t
    }

    var tlsPolicy: TLSPolicy { tlsOptions.policy(transport: tls) }

    func credentials() throws -> AuthCredentials? {
        guard let auth else { return nil }
        return AuthCredentials(user: auth, password: try Secrets.password(file: passwordFile), mechanism: authMechanism)
    }

    func resolver() throws -> (any MXResolver)? {
        try dnsServer.map { LibresolvResolver(server: try LibresolvResolver.parseServer($0)) }
    }

    /// The dialog settings; host and port are filled in per server.
    func dialogOptions(host: String = "", port: Int = 25) throws -> SMTPCheckOptions {
        SMTPCheckOptions(
            host: host, port: port, heloName: heloName, tls: tlsPolicy, auth: try credentials(),
            allowPlaintextAuth: tlsOptions.allowPlaintextAuth, timeouts: timeouts, resolver: try resolver())
    }

    static func localHostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return "localhost" }
        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}
