import ArgumentParser
import Crypto
import Foundation
import Logging
import MailTransport
import MailboxCore
import NIOCore
import Roundtrip
import RoundtripCore

/// Where reports come back to, for verify.
struct ReceiptOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Run our own report listener for the run on HOST:PORT (the return domain's MX must point here), for --from's domain.",
            valueName: "host:port"))
    var listen: ServerArgument?

    @Option(
        name: .customLong("listen-store"),
        help: "Where the listener stores what it receives (default: a folder beside the ledger).")
    var listenStore: String?

    @Option(
        help: ArgumentHelp(
            "Read reports from this IMAP mailbox (IDLE when offered): imap[s]://USER@HOST[:PORT]/MAILBOX, USER percent-encoded.",
            valueName: "url"),
        transform: MailboxURLArgument.argument)
    var imap: MailboxURLArgument?

    @Option(
        help: ArgumentHelp("Read reports from this POP3 mailbox: pop3[s]://USER@HOST[:PORT].", valueName: "url"),
        transform: MailboxURLArgument.argument)
    var pop3: MailboxURLArgument?

    @Option(help: "Read reports from this Maildir (new/ and cur/).")
    var maildir: String?

    @Option(
        name: .customLong("mailbox-password-file"),
        help: "The mailbox password (default: --password-file, else ROUNDTRIP_PASSWORD).")
    var mailboxPasswordFile: String?

    @Flag(
        help:
            "Remove the reports that matched this probe from the mailbox afterwards (IMAP UID MOVE or UIDPLUS expunge, POP3 DELE); Maildir reports are always marked seen."
    )
    var cleanup = false

    /// What the receipt takes from the connection options: our name for the listener, and the
    /// password, TLS and timeout of a mailbox.
    struct Connection {
        var heloName: String
        var tlsOptions: TLSOptions
        var timeout: Double?
        var passwordFile: String?
    }

    func mailboxOptions(_ url: MailboxURL, connection: Connection) throws -> MailboxServerOptions {
        let password = try Secrets.password(file: mailboxPasswordFile ?? connection.passwordFile)
        let t = TimeAmount.nanoseconds(Int64((connection.timeout ?? 30) * 1e9))
        return MailboxServerOptions(
            url: url, password: password,
            tls: connection.tlsOptions.policy(transport: url.scheme.implicitTLS ? .implicit : .starttls),
            allowPlaintextAuth: connection.tlsOptions.allowPlaintextAuth, timeout: t, connectTimeout: t
        )
    }

    /// The feeds for this run; none means "wait for the ledger" (a standing listener fills it).
    func feeds(
        connection: Connection, returnDomains: [String], ledgerDirectory: String, key: SymmetricKey, verbose: Bool,
        log: @escaping @Sendable (String) -> Void
    ) throws -> [any ReportFeed] {
        var feeds: [any ReportFeed] = []
        if let listen {
            let hp = listen.hostPort(defaultPort: 25)
            let store = listenStore ?? (ledgerDirectory + "/listener-store")
            var logger = Logger(label: "roundtrip.verify.listener")
            logger.logLevel = verbose ? .info : .warning
            var configuration = SMTPListenerConfiguration(
                host: hp.host, port: hp.port, hostname: connection.heloName, domains: returnDomains,
                storeDirectory: store
            )
            configuration.recipientGate = ProbeToken.recipientGate(key: key)
            feeds.append(ListenerFeed(configuration: configuration, logger: logger))
        }
        if let maildir { feeds.append(MaildirFeed(path: (maildir as NSString).expandingTildeInPath)) }
        if let imap {
            feeds.append(
                IMAPFeed(options: try mailboxOptions(imap.url, connection: connection), cleanup: cleanup, log: log))
        }
        if let pop3 {
            feeds.append(
                POP3Feed(options: try mailboxOptions(pop3.url, connection: connection), cleanup: cleanup, log: log))
        }
        return feeds
    }
}

extension ReceiptOptions.Connection {
    init(_ c: ConnectionOptions) {
        self.init(heloName: c.heloName, tlsOptions: c.tlsOptions, timeout: c.timeout, passwordFile: c.passwordFile)
    }
}
