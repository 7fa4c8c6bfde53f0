import Crypto
import ArgumentParser
import Foundation
import MailTransport
import Roundtrip
import RoundtripCore
import SMTPCore

/// What to send and where: shared by `verify` and `send`.
struct ProbeOptions: ParsableArguments {
    @Option(name: .customLong("to"), help: "Recipient; repeat for several.")
    var recipients: [String] = []

    @Option(help: "Return address: reports come back to LOCAL+TOKEN@DOMAIN.")
    var from: String

    @Option(help: "Submit to this server (HOST[:PORT]) instead of the recipients' MX.")
    var server: String?

    @Option(name: .customLong("mx-port"), help: "Port for MX delivery (default 25).")
    var mxPort: Int = 25

    @Option(help: "How long to wait for reports: 90s, 10m, 1h (default 10m). For send: when status calls it a timeout.")
    var deadline: String = "10m"

    @Option(help: "DSN NOTIFY: NEVER or a list of SUCCESS,FAILURE,DELAY.")
    var notify: String = "SUCCESS,FAILURE,DELAY"

    @Option(help: "DSN RET: hdrs or full.")
    var ret: String = "hdrs"

    @Option(help: "Subject prefix (the token is appended).")
    var subject: String?

    @Option(name: .customLong("body-file"), help: "Message body from this file.")
    var bodyFile: String?

    @Option(name: .customLong("header"), help: "Extra header \"Name: value\"; repeat for several.")
    var headers: [String] = []

    @Option(help: "Pad the probe to at least N octets (tests size limits).")
    var size: Int?

    @Flag(name: .customLong("require-dsn"), help: "Do not send when the server does not offer DSN.")
    var requireDSN = false

    func validate() throws {
        guard !recipients.isEmpty else { throw ValidationError("give at least one --to") }
        for r in recipients { do { _ = try SMTPMailbox(r, context: "--to") } catch { throw ValidationError("\(error)") } }
        do { _ = try SMTPMailbox(from, context: "--from") } catch { throw ValidationError("\(error)") }
        do { _ = try DSNNotify(parsing: notify) } catch { throw ValidationError("--notify: \(error)") }
        guard ["hdrs", "full"].contains(ret.lowercased()) else { throw ValidationError("--ret must be hdrs or full") }
        guard DurationParser.parse(deadline) != nil else { throw ValidationError("--deadline must look like 90s, 10m or 1h") }
        for h in headers { do { _ = try ProbeBuilder.parseHeader(h) } catch { throw ValidationError("\(error)") } }
        if let subject { do { try ProbeBuilder.checkSubject(subject) } catch { throw ValidationError("\(error)") } }
        if let size, size < 0 || size > 100_000_000 { throw ValidationError("--size must be 0 to 100000000") }
        if let server, HostPort.parse(server, defaultPort: 25) == nil { throw ValidationError("--server must be HOST[:PORT]") }
        if !(1...65535).contains(mxPort) { throw ValidationError("--mx-port must be 1-65535") }
    }

    func configuration(connection: ConnectionOptions, key: SymmetricKey, ledger: Ledger?, strict: Bool) throws -> VerifyConfiguration {
        var body: [UInt8]?
        if let bodyFile {
            guard let data = FileManager.default.contents(atPath: (bodyFile as NSString).expandingTildeInPath) else {
                throw TransportError(.configuration, step: .data, message: "cannot read --body-file \(bodyFile)")
            }
            body = Array(data)
        }
        let builder = ProbeBuilder(
            from: try SMTPMailbox(from), recipients: try recipients.map { try SMTPMailbox($0) },
            notify: try DSNNotify(parsing: notify), ret: ret.lowercased() == "full" ? .full : .headers,
            subject: subject, body: body, headers: try headers.map(ProbeBuilder.parseHeader), size: size
        )
        return VerifyConfiguration(
            builder: builder, server: server.flatMap { HostPort.parse($0, defaultPort: 25) }, dialog: try connection.dialogOptions(),
            resolver: try connection.resolver() ?? LibresolvResolver(), mxPort: mxPort, requireDSN: requireDSN,
            deadline: DurationParser.parse(deadline) ?? .seconds(600), strict: strict, key: key, ledger: ledger
        )
    }
}

/// "90s", "10m", "1h", "500ms", or plain seconds.
enum DurationParser {
    static func parse(_ text: String) -> Duration? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            let number = t.dropLast(suffix.count)
            if suffix == "s" && number.hasSuffix("m") { continue }
            guard let v = Double(number), v >= 0, v.isFinite else { return nil }
            return .milliseconds(Int64(v * factor * 1000))
        }
        guard let v = Double(t), v >= 0, v.isFinite else { return nil }
        return .milliseconds(Int64(v * 1000))
    }
}
