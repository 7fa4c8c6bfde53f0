import ArgumentParser
import Crypto
import Foundation
import Logging
import Metrics
import Roundtrip
import RoundtripCore
import RoundtripMonitor
import ServiceLifecycle
import TOMLKit

/// `roundtrip monitor`: verify's round trips on a schedule, Prometheus metrics and a status page.
struct MonitorCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Run verify's round trips on a schedule for many routes; serve Prometheus metrics and a status page.",
        discussion: """
            The routes are [[monitor.route]] tables in the config file (--config, or the default location): their keys are verify's long option names (name, to, from, server, deadline, notify, tls-verify, ...) plus interval ("5m") and an optional jitter. Options of the [monitor] table (or the command line) name the one receipt every route's reports come back through (listen with domain, or imap, pop3, maildir, as for verify), the ledger, metrics and retention. Routes run concurrently; a route never overlaps itself: a probe still waiting for its report when its next start comes makes that start skipped (logged and counted in roundtrip_probes_skipped_total).

            GET /metrics serves the Prometheus text format, GET / the status page, GET /healthz "ok". SIGTERM or SIGINT: no new probe starts; probes still waiting get --grace to finish, then are recorded as interrupted. Probes older than --retention are pruned from the ledger. See docs/monitor.md.

            Examples:
              roundtrip monitor --config /etc/roundtrip/monitor.toml
              roundtrip monitor --config monitor.toml --metrics 0.0.0.0:9469

            \(ExitStatus.help(for: .monitor))
            """
    )

    @Option(help: ArgumentHelp("The config file with the [[monitor.route]] tables.", valueName: "file"))
    var config: String?

    @Option(
        help: ArgumentHelp(
            "Serve /metrics, / and /healthz on HOST:PORT (loopback unless you name another address).",
            valueName: "host:port"))
    var metrics: BindArgument = BindArgument(host: "127.0.0.1", port: 9469)

    @OptionGroup var receipt: ReceiptOptions

    @Option(
        help: ArgumentHelp(
            "A return domain the listener accepts reports for; repeat for several (default: the routes' --from domains).",
            valueName: "domain"))
    var domain: [String] = []

    @OptionGroup var ledgerOptions: LedgerOptions

    @Option(help: ArgumentHelp("Prune probes older than this from the ledger (30d, 720h).", valueName: "duration"))
    var retention: DurationArgument = DurationArgument(.seconds(30 * 86400), text: "30d")

    @Option(help: ArgumentHelp("After SIGTERM, how long probes still waiting may take.", valueName: "duration"))
    var grace: DurationArgument = DurationArgument(.seconds(30), text: "30s")

    @Option(help: "Our host name in the listener's greeting (default: this machine's name).")
    var helo: String?

    @OptionGroup var tlsOptions: TLSOptions

    @Option(help: "Seconds to wait for each IMAP or POP3 reply (default 30).")
    var timeout: Double?

    @Option(
        name: .customLong("password-file"),
        help: "The mailbox password when no mailbox-password-file is given (else ROUNDTRIP_PASSWORD).")
    var passwordFile: String?

    @Flag(name: .shortAndLong, help: "Log each probe's steps (debug level); twice for every reply (trace).")
    var verbose: Int

    func validate() throws {
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be positive") }
        if retention.seconds < 3600 { throw ValidationError("--retention must be at least 1h") }
    }

    static func status(for error: any Error) -> ExitStatus? {
        if let e = error as? MonitorHTTPError { return e.cannotBind ? .unavailable : .software }
        if error is MonitorRoutes.Problem || error is FeedError { return .configuration }
        return RunCommand.status(for: error) ?? Daemon.status(for: error)
    }

    func execute() async throws -> ExitStatus {
        Daemon.bootstrapLogging(verbose: verbose)
        let logger = Logger(label: "roundtrip.monitor")
        guard let config else {
            throw MonitorRoutes.Problem(
                description: "no config file: give --config FILE with [[monitor.route]] tables (docs/monitor.md)")
        }
        let (ledger, key) = try await ledgerOptions.open()
        let routes = try MonitorRoutes.load(path: config, key: key, ledger: ledger)
        let domains = domain.isEmpty ? Array(Set(routes.map { $0.verify.builder.from.domain })).sorted() : domain
        let connection = ReceiptOptions.Connection(
            heloName: helo ?? ConnectionOptions.localHostName(), tlsOptions: tlsOptions, timeout: timeout,
            passwordFile: passwordFile)
        let feeds = try receipt.feeds(
            connection: connection, returnDomains: domains, ledgerDirectory: try ledgerOptions.localDirectory(),
            key: key,
            verbose: verbose > 0, log: { logger.info("\($0)") })
        guard !feeds.isEmpty else {
            throw MonitorRoutes.Problem(
                description:
                    "name the receipt the reports come back through: listen (with domain), imap, pop3 or maildir")
        }
        // The listener's own counters go through swift-metrics' global factory into our registry.
        let exported = MonitorMetrics()
        MetricsSystem.bootstrap(exported.factory)
        let service = MonitorService(
            configuration: MonitorConfiguration(
                routes: routes, ledger: ledger, key: key, receipt: feeds, httpHost: metrics.host,
                httpPort: metrics.port, retention: retention.seconds, grace: grace.duration),
            metrics: exported, logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // The service ends its probes within the grace; the group cancels it shortly after.
        groupConfiguration.maximumGracefulShutdownDuration = grace.duration + .seconds(10)
        try await ServiceGroup(configuration: groupConfiguration).run()
        return .ok
    }
}

/// The `[[monitor.route]]` tables of the config file, each turned into verify's configuration
/// by verify's own option parser.
enum MonitorRoutes {
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    /// Keys of a route table that are the route's, not verify's.
    static let ownKeys: Set<String> = ["name", "interval", "jitter"]
    /// Verify options that belong to the monitor as a whole.
    static let monitorKeys: Set<String> = [
        "listen", "listen-store", "imap", "pop3", "maildir", "mailbox-password-file", "cleanup", "ledger", "format",
        "verbose", "config",
    ]

    static func load(path: String, key: SymmetricKey, ledger: any LedgerStore) throws -> [MonitorRoute] {
        let tables = try tables(path: path)
        guard !tables.isEmpty else {
            throw Problem(description: "\(path): no [[monitor.route]] table: there is nothing to monitor")
        }
        var names: Set<String> = []
        return try tables.enumerated().map { (i, t) in
            let r = try route(t, index: i, path: path, key: key, ledger: ledger)
            guard names.insert(r.name).inserted else {
                throw Problem(description: "\(path): two routes are named \(r.name)")
            }
            return r
        }
    }

    static func tables(path: String) throws -> [TOMLTable] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Problem(description: "cannot read the config file \(path): \(error.localizedDescription)")
        }
        let root: TOMLTable
        do { root = try TOMLTable(string: text) } catch {
            throw Problem(description: "the config file \(path) is not valid TOML: \(error)")
        }
        guard let monitor = root["monitor"]?.table, let routes = monitor["route"] else { return [] }
        guard let array = routes.array else {
            throw Problem(description: "\(path): monitor.route must be an array of tables ([[monitor.route]])")
        }
        return try array.map {
            guard let t = $0.table else {
                throw Problem(description: "\(path): monitor.route must be an array of tables ([[monitor.route]])")
            }
            return t
        }
    }

    static func route(_ t: TOMLTable, index: Int, path: String, key: SymmetricKey, ledger: any LedgerStore) throws
        -> MonitorRoute
    {
        let here = "\(path): route \(index + 1)"
        guard let name = t["name"]?.string else { throw Problem(description: "\(here): give it a name") }
        guard name.range(of: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", options: .regularExpression) != nil else {
            throw Problem(
                description: "\(here): the name \(name.debugDescription) must be 1-64 letters, digits, '.', '_' or '-'")
        }
        let at = "\(path): route \(name)"
        func duration(_ k: String) throws -> Double? {
            guard let v = t[k] else { return nil }
            guard let s = v.string, let d = DurationArgument(argument: s) else {
                throw Problem(description: "\(at): \(k) must be a duration such as \"90s\" or \"5m\"")
            }
            return d.seconds
        }
        guard let interval = try duration("interval") else {
            throw Problem(description: "\(at): give it an interval (\"5m\")")
        }
        let schedule: MonitorSchedule
        do { schedule = try MonitorSchedule(interval: interval, jitter: try duration("jitter") ?? 0) } catch {
            throw Problem(description: "\(at): \(error)")
        }
        for k in t.keys where monitorKeys.contains(k) {
            throw Problem(description: "\(at): \(k) belongs in the [monitor] table (one receipt for all routes)")
        }
        let arguments: [String]
        do {
            arguments = try ConfigFile.arguments(
                for: t, subcommand: "monitor.route", path: path, given: [], skipping: ownKeys)
        } catch {
            throw Problem(description: "\(error)")
        }
        let verify: VerifyCommand
        do {
            verify = try VerifyCommand.parse(arguments)
        } catch {
            throw Problem(description: "\(at): \(VerifyCommand.message(for: error))")
        }
        let configuration: VerifyConfiguration
        do {
            configuration = try verify.probe.configuration(
                connection: verify.connection, key: key, ledger: ledger, strict: verify.strict)
        } catch {
            throw Problem(description: "\(at): \(error)")
        }
        return MonitorRoute(name: name, schedule: schedule, verify: configuration)
    }
}
