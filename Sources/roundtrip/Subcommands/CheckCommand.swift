import ArgumentParser
import Foundation
import MailTransport
import NIOCore
import SMTPCore

struct CheckCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the basic SMTP dialog check against a server or every MX of a domain.",
        discussion: """
            Connects, reads the 220 banner, sends EHLO (HELO on 500/502), lists the extensions, upgrades with STARTTLS when offered and sends EHLO again, optionally authenticates, optionally tests MAIL FROM / RCPT TO acceptance, then RSET and QUIT. Every step is timed and judged.

            Examples:
              roundtrip check 127.0.0.1:2525
              roundtrip check --domain example.org
              roundtrip check mx.example.org --from probe@a.example \\
                --rcpt alice@example.org --format json
              roundtrip check smtp.example.org:587 --auth user@example.org \\
                --password-file ~/.pw --starttls require
              roundtrip check smtp.example.org:465 --tls implicit

            The password comes from --password-file or the ROUNDTRIP_PASSWORD environment variable, never from the command line.

            With --domain, every MX is checked and the exit code is that of the first failing MX in preference order. \(ExitStatus.help(for: .check))
            """
    )

    @Argument(help: ArgumentHelp("The server, HOST[:PORT] or [IPv6]:PORT. Omit with --domain.", valueName: "server"))
    var server: ServerArgument?

    @Option(help: "Check every MX of this domain, in preference order.")
    var domain: String?

    @Option(help: "The port when HOST has none (default 25; 465 with --tls implicit).")
    var port: Int?

    @Option(
        help: ArgumentHelp(
            "Envelope sender for the MAIL FROM test (\"<>\" for the null sender).", valueName: "address"),
        transform: CheckCommand.sender)
    var from: String?

    @Option(
        help: ArgumentHelp("Recipient for the RCPT TO test; repeat for several.", valueName: "address"),
        transform: CheckCommand.recipient)
    var rcpt: [String] = []

    @Flag(help: "Also send a small test message after RCPT (it will be delivered).")
    var data = false

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Output: text or json.")
    var format: CheckFormat = .text

    @Flag(name: .shortAndLong, help: "Show every line sent and received (AUTH secrets redacted).")
    var verbose = false

    /// `<>` or a mailbox, kept as written: the dialog sends it as given.
    static func sender(_ text: String) throws -> String {
        if text != "<>" { _ = try SMTPMailbox(text) }
        return text
    }

    /// A mailbox, kept as written.
    static func recipient(_ text: String) throws -> String {
        _ = try SMTPMailbox(text)
        return text
    }

    func validate() throws {
        if server == nil && domain == nil { throw ValidationError("name a server (HOST[:PORT]) or use --domain") }
        if server != nil && domain != nil { throw ValidationError("give either a server or --domain, not both") }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1-65535") }
        if connection.auth == nil && connection.passwordFile != nil {
            throw ValidationError("--password-file needs --auth")
        }
    }

    static func status(for error: any Error) -> ExitStatus? {
        (error as? TransportError).map { ExitStatus(check: $0) }
    }

    func execute() async throws -> ExitStatus {
        let resolver = try connection.resolver()
        let base = try connection.dialogOptions()
        let defaultPort = port ?? (connection.tls == .implicit ? 465 : 25)

        var targets: [HostPort] = []
        var mxNote: MXSummary?
        if let domain {
            let r = resolver ?? LibresolvResolver()
            let answer = try await r.mx(for: domain)
            switch answer {
            case .nullMX:
                let summary = MXSummary(domain: domain, nullMX: true, exchangers: [])
                CheckRenderer.printNullMX(summary, format: format)
                return .dns
            case .implicit(let host):
                mxNote = MXSummary(domain: domain, nullMX: false, exchangers: [], implicitHost: host)
                targets = [HostPort(host: host, port: defaultPort)]
            case .exchangers(let list):
                mxNote = MXSummary(domain: domain, nullMX: false, exchangers: list)
                targets = list.map {
                    HostPort(host: $0.host.hasSuffix(".") ? String($0.host.dropLast()) : $0.host, port: defaultPort)
                }
            }
        } else if let server {
            targets = [server.hostPort(defaultPort: defaultPort)]
        }

        var reports: [SMTPCheckReport] = []
        for target in targets {
            var options = base
            options.host = target.host
            options.port = target.port
            options.from = from
            options.recipients = rcpt
            options.sendData = data
            let report = await SMTPCheck.run(options)
            if format == .text { CheckRenderer.printText(report, verbose: verbose, mx: mxNote) }
            reports.append(report)
        }
        let code = Self.exitCode(reports)
        if format == .json { CheckRenderer.printJSON(reports, mx: mxNote, exitCode: code) }
        return code
    }

    /// The first failing report decides (MX preference order).
    static func exitCode(_ reports: [SMTPCheckReport]) -> ExitStatus {
        for r in reports {
            guard let step = r.failedStep else { continue }
            switch r.failureKind {
            case .configuration: return .configuration
            case .invalidInput: return .usage
            default: return ExitStatus(step: step)
            }
        }
        return .ok
    }
}

enum CheckFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

struct MXSummary: Codable {
    var domain: String
    var nullMX: Bool
    var exchangers: [MXRecord]
    var implicitHost: String?
}
