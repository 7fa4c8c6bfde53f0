import ArgumentParser
import Foundation
import MailTransport
import Roundtrip
import RoundtripCore
import SMTPCore

struct VerifyCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Send a tagged probe with DSN parameters and wait for the delivery report: both directions, one verdict.",
        discussion: """
            The probe's token goes into the VERP return path (FROM-LOCAL+TOKEN@FROM-DOMAIN), ENVID, ORCPT, Message-ID, X-Roundtrip-Probe, Subject and body. Reports come back to our own listener for the run (--listen, when the return domain's MX points here), or are read from the mailbox the return address is delivered to: --imap (IDLE), --pop3 or --maildir. With none of these, verify waits for the ledger, which a standing `roundtrip listen --ledger` fills. The run is recorded in the ledger (--ledger), where `roundtrip status` finds it.

            Examples:
              roundtrip verify --to alice@example.org \\
                --from roundtrip@bounce.example.net --listen 0.0.0.0:25
              roundtrip verify --to alice@example.org \\
                --from reports@example.net --maildir /var/mail/reports
              roundtrip verify --to alice@example.org --to bob@example.com \\
                --from monitor@example.net \\
                --imap imaps://monitor%40example.net@imap.example.net/INBOX \\
                --password-file pw --deadline 10m
              roundtrip verify --to alice@example.org \\
                --server smtp.example.net:587 --auth monitor@example.net \\
                --password-file pw --from monitor@example.net \\
                --maildir ~/Maildir --deadline 10m --format junit

            With --arrival, the recipient's own mailbox (and its Junk folder) is watched for the probe itself: arrival proves the outbound direction end to end (relayed becomes delivered), and the result tells Inbox or Junk and the receiver's SPF, DKIM and DMARC results. --dkim-key signs the probe.

            Verdicts: delivered, relayed, expanded, delayed, failed, rejected, dsn-unavailable, arrived, timeout.

            \(ExitStatus.help(for: .verify)) With --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
            """
    )

    @OptionGroup var probe: ProbeOptions

    @OptionGroup var receipt: ReceiptOptions

    @OptionGroup(title: "Arrival in the recipients' mailboxes") var arrival: ArrivalOptions

    @Flag(
        help:
            "Count relayed, delayed, dsn-unavailable, arrived, Junk placement and dkim/dmarc=fail as failures (exit 1)."
    )
    var strict = false

    @Option(help: "Output: text, json, junit or nagios.")
    var format: VerifyFormat = .text

    @OptionGroup var ledgerOptions: LedgerOptions

    @OptionGroup var connection: ConnectionOptions

    @Flag(name: .shortAndLong, help: "Show the submission transcript and every report as it arrives.")
    var verbose = false

    static func status(for error: any Error) -> ExitStatus? { RunCommand.status(for: error) }

    func execute() async throws -> ExitStatus {
        let (ledger, key) = try await ledgerOptions.open()
        var config = try probe.configuration(connection: connection, key: key, ledger: ledger, strict: strict)
        config.reportExpected = !arrival.noReport
        config.trustedAuthservID = arrival.authservID
        let arrivals = try arrival.watches(
            connection: connection, cleanup: receipt.cleanup, log: RunCommand.logger(verbose: verbose))
        let feeds = try receipt.feeds(
            connection: .init(connection), returnDomains: [probe.from.domain],
            ledgerDirectory: try ledgerOptions.localDirectory(), key: key,
            verbose: verbose, log: RunCommand.logger(verbose: verbose))
        let interactive = format == .text && isatty(STDERR_FILENO) == 1
        let (report, _, groups) = try await VerifyRun.run(
            config, feeds: feeds, arrivals: arrivals, progress: interactive ? RunCommand.showProgress : nil,
            log: RunCommand.logger(verbose: verbose)
        )
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        if verbose { RunCommand.printTranscripts(groups) }
        return try RunCommand.output(report, format: format)
    }
}

enum VerifyFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, junit, nagios
}
