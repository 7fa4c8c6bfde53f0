import ArgumentParser
import Crypto
import Foundation
import Logging
import MailTransport
import NIOCore
import Roundtrip
import RoundtripCore
import SMTPCore
import ServiceLifecycle

/// `roundtrip listen`: the report listener as a daemon.
struct ListenCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Run the report listener: an SMTP server that stores delivery reports durably.",
        discussion: """
            Accepts mail only for the --domain names (never relays) and only for addresses that can be reports for our probes: LOCAL+TOKEN@DOMAIN where TOKEN is a probe token whose HMAC verifies with this installation's key (the file probe-token.key beside the ledger), postmaster@DOMAIN (RFC 5321), and the local parts named with --accept. Every other recipient gets 550 5.1.1. It offers STARTTLS (the given certificate, or a self-signed one made at start-up), and writes every message to STORE/new (Maildir), the SMTP envelope inside it as its first header field (X-Roundtrip-Envelope, JSON), fsync'ed before it answers 250; while the store's filesystem has less than --min-free bytes free, DATA gets 452 4.3.1. SIGTERM or SIGINT stops accepting, lets open sessions finish (--grace seconds), then exits.

            Limits per client: --max-per-client connections (an IPv6 client is counted by its /64), 100 commands that move no mail (EHLO, NOOP, RSET, ...) between messages, --max-session seconds per session; replies are written only while the client reads them.

            Examples:
              roundtrip listen --bind 0.0.0.0:25 --domain bounce.example.org \\
                --store /var/lib/roundtrip
              roundtrip listen --bind 127.0.0.1:2627 --domain return.rt.test \\
                --store /tmp/store -v
              roundtrip listen --bind [::]:25 --domain b.example.org --store /srv/rt \\
                --tls-cert c.pem --tls-key k.pem

            \(ExitStatus.help(for: .listen)) Configuration problems: a bad certificate or key, a store that cannot be written, a probe-token key or ledger that cannot be read.
            """
    )

    @Option(help: ArgumentHelp("Address and port to listen on: HOST:PORT or [IPv6]:PORT.", valueName: "host:port"))
    var bind: BindArgument = BindArgument(host: "0.0.0.0", port: 25)

    @Option(help: "A domain to accept reports for; repeat for several.")
    var domain: [String] = []

    @Option(help: "The store directory (created if missing).")
    var store: String

    @Option(
        help:
            "How files are made durable before 250: file (fdatasync each file, any filesystem), batch (write out, then one journal commit per batch; ext4/XFS only) or auto (batch on ext4/XFS, else file)."
    )
    var sync: MessageStore.SyncMode = .auto

    @Option(help: "Our host name in the greeting and Received: (default: this machine's name).")
    var hostname: String?

    @Option(name: .customLong("tls-cert"), help: "PEM certificate (chain) for STARTTLS.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for STARTTLS.")
    var tlsKey: String?

    @Flag(name: .customLong("no-tls"), help: "Do not offer STARTTLS.")
    var noTLS = false

    @Option(name: .customLong("max-size"), help: "Largest message in octets.")
    var maxSize: Int = 10 * 1024 * 1024

    @Option(name: .customLong("max-recipients"), help: "Recipients per message.")
    var maxRecipients: Int = 100

    @Option(name: .customLong("max-connections"), help: "Open connections in total.")
    var maxConnections: Int = 100

    @Option(name: .customLong("max-per-client"), help: "Open connections per client IP address.")
    var maxPerClient: Int = 10

    @Option(name: .customLong("idle-timeout"), help: "Seconds allowed for each command and for the TLS handshake.")
    var idleTimeout: Double = 300

    @Option(name: .customLong("data-timeout"), help: "Seconds allowed for a whole message after 354.")
    var dataTimeout: Double = 600

    @Option(help: "Seconds open sessions get to finish after SIGTERM.")
    var grace: Double = 30

    @Option(
        help: ArgumentHelp(
            "Also accept mail for this local part (any +tag) in the --domain names; repeat for several. postmaster is always accepted.",
            valueName: "LOCALPART"))
    var accept: [String] = []

    @Option(
        name: .customLong("min-free"),
        help: "Free bytes the store's filesystem must keep; below it DATA is answered 452 4.3.1.")
    var minFree: UInt64 = 100 * 1024 * 1024

    @Option(name: .customLong("max-session"), help: "Seconds a session may last in all.")
    var maxSession: Double = 600

    @Option(
        help:
            "Correlate every stored report with the probes in this ledger (as `send` and `verify` record them), so `roundtrip status TOKEN --wait` sees the verdicts. The probe-token key lives beside it."
    )
    var ledger: String?

    @OptionGroup var ledgerAccess: LedgerAccessOptions

    @Flag(name: .shortAndLong, help: "Log each connection and message (debug level); twice for every reply (trace).")
    var verbose: Int

    func validate() throws {
        guard !domain.isEmpty else { throw ValidationError("name at least one --domain") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if noTLS && tlsCert != nil { throw ValidationError("--no-tls contradicts --tls-cert") }
        if maxSize < 65536 { throw ValidationError("--max-size must be at least 65536 (RFC 5321 §4.5.3.1.7)") }
        if maxRecipients < 1 { throw ValidationError("--max-recipients must be at least 1") }
        if maxConnections < 1 || maxPerClient < 1 {
            throw ValidationError("--max-connections and --max-per-client must be at least 1")
        }
        if !(idleTimeout > 0) || !(dataTimeout > 0) || !(grace >= 0) || !(maxSession > 0) {
            throw ValidationError("timeouts must be positive")
        }
        for a in accept
        where a.isEmpty
            || a.contains(where: {
                $0 == "@" || $0 == "+" || $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? false
            })
        {
            throw ValidationError(
                "--accept takes a bare local part (no @, +, spaces or control characters), not \(a.debugDescription)")
        }
    }

    static func status(for error: any Error) -> ExitStatus? { Daemon.status(for: error) }

    func execute() async throws -> ExitStatus {
        Daemon.bootstrapLogging(verbose: verbose)
        let logger = Logger(label: "roundtrip.listen")
        let tls: ListenerTLSSource
        if noTLS {
            tls = .disabled
        } else if let tlsCert, let tlsKey {
            tls = .files(certificate: tlsCert, key: tlsKey)
        } else {
            tls = .selfSigned
        }
        let seconds = { (s: Double) in TimeAmount.nanoseconds(Int64(s * 1e9)) }
        var configuration = SMTPListenerConfiguration(
            host: bind.host, port: bind.port, hostname: hostname ?? ConnectionOptions.localHostName(), domains: domain,
            storeDirectory: store, syncMode: sync, tls: tls,
            maxMessageSize: maxSize, maxRecipients: maxRecipients, maxConnections: maxConnections,
            maxConnectionsPerClient: maxPerClient,
            timeouts: SMTPListenerTimeouts(
                command: seconds(idleTimeout), data: seconds(dataTimeout), tlsHandshake: seconds(min(idleTimeout, 60))),
            shutdownGracePeriod: seconds(grace)
        )
        configuration.minFreeBytes = minFree
        configuration.maxSessionLifetime = seconds(maxSession)
        var ingest: ReportIngest?
        do {
            let options = LedgerOptions(
                ledger: ledger, access: ledgerAccess)
            let key: SymmetricKey
            if ledger != nil {
                let (l, k) = try await options.open()
                key = k
                ingest = ReportIngest(ledger: l, key: k, log: { logger.info("\($0)") })
            } else {
                key = try options.loadKey()
            }
            configuration.recipientGate = ProbeToken.recipientGate(key: key, accepting: accept)
        } catch {
            Self.report(error)
            return .configuration
        }
        // A report the ledger cannot take now (a PostgreSQL server down) stays in the
        // store and is ingested again with backoff: no report is lost.
        let deferred = ingest.map { DeferredIngest(ingest: $0, log: { logger.warning("\($0)") }) }
        let onMessage: @Sendable (StoredMessage) async -> Void = { [deferred] m in
            await deferred?.receive(
                DeferredIngest.Item(path: m.path, envelopeRecipients: m.envelope.rcptTo, receivedAt: Date()))
        }
        let retry = Task { await deferred?.run() }
        defer {
            retry.cancel()
            Task { await deferred?.stop() }
        }
        try await Daemon.run(logger: logger) {
            try SMTPListener(configuration: configuration, logger: logger, onMessage: onMessage)
        }
        if let deferred, case let left = await deferred.count, left > 0 {
            logger.warning("\(left) stored report(s) were not ingested into the ledger; they remain in the store")
        }
        return .ok
    }
}

extension MessageStore.SyncMode: ExpressibleByArgument {}
