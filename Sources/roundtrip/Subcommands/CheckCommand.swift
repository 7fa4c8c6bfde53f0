import ArgumentParser
import Foundation
import MailTransport
import NIOCore
import SMTPCore

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the basic SMTP dialog check against a server or every MX of a domain.",
        discussion: """
        Connects, reads the 220 banner, sends EHLO (HELO on 500/502), lists the extensions,
        upgrades with STARTTLS when offered and sends EHLO again, optionally authenticates,
        optionally tests MAIL FROM / RCPT TO acceptance, then RSET and QUIT. Every step is
        timed and judged.

        Examples:
          roundtrip check 127.0.0.1:2525
          roundtrip check --domain example.org
          roundtrip check mx.example.org --from probe@a.example --rcpt alice@example.org --format json
          roundtrip check smtp.example.org:587 --auth user@example.org --password-file ~/.pw --starttls require
          roundtrip check smtp.example.org:465 --tls implicit

        The password comes from --password-file or the ROUNDTRIP_PASSWORD environment
        variable, never from the command line.

        Exit codes: 0 passed, 10 DNS, 20 connect, 21 banner, 22 EHLO/HELO, 23 STARTTLS/TLS,
        24 AUTH, 25 MAIL, 26 RCPT, 27 DATA, 28 QUIT/RSET, 64 usage, 78 configuration.
        """
    )

    @Argument(help: "The server, HOST[:PORT] or [IPv6]:PORT. Omit with --domain.")
    var server: String?

    @Option(help: "Check every MX of this domain, in preference order.")
    var domain: String?

    @Option(help: "The port when HOST has none (default 25; 465 with --tls implicit).")
    var port: Int?

    @Option(help: "Envelope sender for the MAIL FROM test (\"<>\" for the null sender).")
    var from: String?

    @Option(help: "Recipient for the RCPT TO test; repeat for several.")
    var rcpt: [String] = []

    @Flag(help: "Also send a small test message after RCPT (it will be delivered).")
    var data = false

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Output: text or json.")
    var format: CheckFormat = .text

    @Flag(name: .shortAndLong, help: "Show every line sent and received (AUTH secrets redacted).")
    var verbose = false

    func validate() throws {
        if server == nil && domain == nil { throw ValidationError("name a server (HOST[:PORT]) or use --domain") }
        if server != nil && domain != nil { throw ValidationError("give either a server or --domain, not both") }
        if let server, HostPort.parse(server, defaultPort: 25) == nil { throw ValidationError("\(server.debugDescription) is not HOST[:PORT]") }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1-65535") }
        if let from, from != "<>" {
            do { _ = try SMTPMailbox(from, context: "--from") } catch { throw ValidationError("\(error)") }
        }
        for r in rcpt {
            do { _ = try SMTPMailbox(r, context: "--rcpt") } catch { throw ValidationError("\(error)") }
        }
        try connection.validate()
        if connection.auth == nil && connection.passwordFile != nil { throw ValidationError("--password-file needs --auth") }
    }

    func run() async throws {
        let exitCode: Int32
        do {
            exitCode = try await perform()
        } catch let e as TransportError {
            FileHandle.standardError.write(Data("roundtrip check: \(e)\n".utf8))
            exitCode = CheckExitCode.code(for: e)
        }
        if exitCode != 0 { throw ExitCode(exitCode) }
    }

    private func perform() async throws -> Int32 {
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
                return CheckExitCode.code(for: .dns)
            case .implicit(let host):
                mxNote = MXSummary(domain: domain, nullMX: false, exchangers: [], implicitHost: host)
                targets = [HostPort(host: host, port: defaultPort)]
            case .exchangers(let list):
                mxNote = MXSummary(domain: domain, nullMX: false, exchangers: list)
                targets = list.map { HostPort(host: $0.host.hasSuffix(".") ? String($0.host.dropLast()) : $0.host, port: defaultPort) }
            }
        } else if let server, let hp = HostPort.parse(server, defaultPort: defaultPort) {
            targets = [hp]
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

    static func exitCode(_ reports: [SMTPCheckReport]) -> Int32 {
        for r in reports {
            guard let step = r.failedStep else { continue }
            switch r.failureKind {
            case .configuration: return CheckExitCode.configuration
            case .invalidInput: return CheckExitCode.usage
            default: return CheckExitCode.code(for: step)
            }
        }
        return CheckExitCode.ok
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
