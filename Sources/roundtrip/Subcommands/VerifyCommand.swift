import ArgumentParser
import Crypto
import Foundation
import MailTransport
import Roundtrip
import RoundtripCore
import SMTPCore

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Send a tagged probe with DSN parameters and wait for the delivery report: both directions, one verdict.",
        discussion: """
        The probe's token goes into the VERP return path (FROM-LOCAL+TOKEN@FROM-DOMAIN), ENVID,
        ORCPT, Message-ID, X-Roundtrip-Probe, Subject and body. Reports are read from a Maildir the
        return address is delivered to (--maildir); more receipt modes follow.

        Examples:
          roundtrip verify --to alice@example.org --from reports@example.net --maildir /var/mail/reports
          roundtrip verify --to alice@example.org --server smtp.example.net:587 --auth monitor@example.net \\
            --password-file pw --from monitor@example.net --maildir ~/Maildir --deadline 10m --format junit

        Verdicts: delivered, relayed, expanded, delayed, failed, rejected, dsn-unavailable, timeout.
        Exit codes: 0 all proven; 1 failed or rejected; 2 timeout; 3 partial (relayed, delayed,
        dsn-unavailable; 1 with --strict); 4 could not submit; 64 usage; 78 configuration.
        With --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
        """
    )

    @Option(name: .customLong("to"), help: "Recipient; repeat for several.")
    var recipients: [String] = []

    @Option(help: "Return address: reports come back to LOCAL+TOKEN@DOMAIN.")
    var from: String

    @Option(help: "Submit to this server (HOST[:PORT]) instead of the recipients' MX.")
    var server: String?

    @Option(name: .customLong("mx-port"), help: "Port for MX delivery (default 25).")
    var mxPort: Int = 25

    @Option(help: "Read reports from this Maildir (the return address's mailbox).")
    var maildir: String?

    @Option(help: "How long to wait for reports: 90s, 10m, 1h (default 10m).")
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

    @Flag(help: "Count relayed, delayed and dsn-unavailable as failures (exit 1).")
    var strict = false

    @Option(help: "Output: text, json, junit or nagios.")
    var format: VerifyFormat = .text

    @Option(help: "Directory of the probe key (default: the ledger's directory).")
    var keyDirectory: String?

    @OptionGroup var connection: ConnectionOptions

    @Flag(name: .shortAndLong, help: "Show the submission transcript and every report as it arrives.")
    var verbose = false

    func validate() throws {
        guard !recipients.isEmpty else { throw ValidationError("give at least one --to") }
        for r in recipients { do { _ = try SMTPMailbox(r, context: "--to") } catch { throw ValidationError("\(error)") } }
        do { _ = try SMTPMailbox(from, context: "--from") } catch { throw ValidationError("\(error)") }
        do { _ = try DSNNotify(parsing: notify) } catch { throw ValidationError("--notify: \(error)") }
        guard ["hdrs", "full"].contains(ret.lowercased()) else { throw ValidationError("--ret must be hdrs or full") }
        guard DurationParser.parse(deadline) != nil else { throw ValidationError("--deadline must look like 90s, 10m or 1h") }
        for h in headers { do { _ = try ProbeBuilder.parseHeader(h) } catch { throw ValidationError("\(error)") } }
        if let size, size < 0 || size > 100_000_000 { throw ValidationError("--size must be 0 to 100000000") }
        if let server, HostPort.parse(server, defaultPort: 25) == nil { throw ValidationError("--server must be HOST[:PORT]") }
        if maildir == nil { throw ValidationError("name where reports come back: --maildir PATH") }
        try connection.validate()
    }

    func run() async throws {
        let status: Int32
        do {
            status = try await perform()
        } catch let e as TransportError {
            FileHandle.standardError.write(Data("roundtrip verify: \(e)\n".utf8))
            status = e.kind == .configuration ? RunExitStatus.configuration.rawValue : RunExitStatus.submissionFailed.rawValue
        } catch let e as ProbeBuilder.BuildError {
            FileHandle.standardError.write(Data("roundtrip verify: \(e)\n".utf8))
            status = RunExitStatus.usage.rawValue
        } catch let e as FeedError {
            FileHandle.standardError.write(Data("roundtrip verify: \(e)\n".utf8))
            status = RunExitStatus.configuration.rawValue
        }
        if status != 0 { throw ExitCode(status) }
    }

    private func perform() async throws -> Int32 {
        let keyDir = keyDirectory ?? ProbeKeyStore.defaultDirectory()
        let key = try ProbeKeyStore.loadOrCreate(directory: keyDir)
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
        let dialog = try connection.dialogOptions()
        let config = VerifyConfiguration(
            builder: builder, server: server.flatMap { HostPort.parse($0, defaultPort: 25) }, dialog: dialog,
            resolver: try connection.resolver() ?? LibresolvResolver(), mxPort: mxPort, requireDSN: requireDSN,
            deadline: DurationParser.parse(deadline) ?? .seconds(600), strict: strict, key: key
        )
        var feeds: [any ReportFeed] = []
        if let maildir { feeds.append(MaildirFeed(path: (maildir as NSString).expandingTildeInPath)) }
        let interactive = format == .text && isatty(STDERR_FILENO) == 1
        let verbose = self.verbose
        let showProgress: @Sendable (VerifyProgress) -> Void = { p in
            let line = "\rwaiting for \(p.waitingFor) of \(p.total) report(s), \(Int(p.secondsLeft)) s left "
            FileHandle.standardError.write(Data(line.utf8))
        }
        let log: @Sendable (String) -> Void = { line in
            if verbose { FileHandle.standardError.write(Data("* \(line)\n".utf8)) }
        }
        let (report, _, groups) = try await VerifyRun.run(config, feeds: feeds, progress: interactive ? showProgress : nil, log: log)
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        if verbose {
            for g in groups {
                for a in g.attempts {
                    FileHandle.standardError.write(Data("--- \(a.route.target.display)\n".utf8))
                    for e in a.report.transcript {
                        FileHandle.standardError.write(Data("\(CheckRenderer.prefix(e.direction)) \(e.text)\n".utf8))
                    }
                }
            }
        }
        let output: String
        switch format {
        case .text: output = RunRenderer.text(report, colour: CheckRenderer.useColour)
        case .json: output = RunRenderer.json(report)
        case .junit: output = RunRenderer.junit(report)
        case .nagios: output = RunRenderer.nagios(report)
        }
        FileHandle.standardOutput.write(Data(output.utf8))
        if format == .nagios { return RunExitStatus(rawValue: report.exitCode)?.nagios ?? 3 }
        return report.exitCode
    }
}

enum VerifyFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, junit, nagios
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
