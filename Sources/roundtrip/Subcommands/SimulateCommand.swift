import ArgumentParser
import Foundation
import Logging
import MailTransport
import NIOCore
import Roundtrip
import ServiceLifecycle

/// `roundtrip simulate`: an embedded test MTA that sends real RFC 3464 reports.
struct SimulateCommand: RoundtripSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a test MTA that answers like a real one and sends RFC 3464 delivery reports back.",
        discussion: """
            Accepts mail for --domain (advertising DSN in EHLO), stores it like `roundtrip listen` (--store, default a new temporary directory) and reports to the envelope sender over SMTP (MAIL FROM:<>, via the sender domain's MX or a --route). The recipient's local part before an optional +tag, case-insensitive, picks the behaviour:

              local part  RCPT       report(s)
              ----------  ---------  -------------------------------------------
              success     250        delivered 2.0.0 if NOTIFY has SUCCESS
              (any other) 250        as success
              unknown     250        failed 5.1.1 if NOTIFY has FAILURE or none
              reject      550 5.1.1  none (refused at RCPT)
              full        250        failed 5.2.2 if NOTIFY has FAILURE or none
              delay       250        delayed 4.4.1 if NOTIFY has DELAY, then
                                     after --delay-seconds delivered if SUCCESS
              relay       250        relayed 2.0.0 if SUCCESS (hop without DSN)
              nodsn       250        none, ever
              slow        250        each reply from this RCPT on waits
                                     --slow-seconds; reports as success
              legacy      250        Postfix-style text bounce (no delivery-
                                     status part), 5.1.1, if FAILURE or none

            RFC 3461: NOTIFY=NEVER gets nothing; without NOTIFY only failures are reported; ENVID comes back as Original-Envelope-Id and ORCPT as Original-Recipient; RET=FULL returns the whole message (message/rfc822) in failure reports, otherwise the header section (text/rfc822-headers); mail from <> never gets a report. One report per message and event covers all its recipients with that event. A report that cannot be delivered is tried up to 4 times, with backoff.

            --nodsn-bind runs a second listener that does not advertise DSN at all: `roundtrip verify` against it records dsn-unavailable.

            Examples:
              roundtrip simulate --bind 127.0.0.1:2525 --domain sim.test \\
                  --route rt.test=127.0.0.1:2527
              roundtrip simulate --bind 127.0.0.1:2626 --domain relay.rt.test \\
                  --route rt.test=127.0.0.1:2525 -v

            \(ExitStatus.help(for: .simulate)) Configuration problems: a store that cannot be written, a bad domain, a bad --dns-server.
            """
    )

    @Option(help: ArgumentHelp("Address and port to listen on: HOST:PORT or [IPv6]:PORT.", valueName: "host:port"))
    var bind: BindArgument = BindArgument(host: "127.0.0.1", port: 2525)

    @Option(help: "A domain to accept mail for; repeat for several (default sim.test).")
    var domain: [String] = []

    @Option(
        help: ArgumentHelp(
            "Send reports for DOMAIN to HOST:PORT instead of its MX (repeatable): DOMAIN=HOST:PORT.",
            valueName: "domain=host:port"))
    var route: [RouteArgument] = []

    @Option(help: "Seconds to wait before sending each report.")
    var latency: Double = 0

    @Option(name: .customLong("delay-seconds"), help: "Seconds between the delayed and the final report of `delay`.")
    var delaySeconds: Double = 5

    @Option(name: .customLong("slow-seconds"), help: "Seconds each reply of a `slow` session waits.")
    var slowSeconds: Double = 2

    @Option(
        name: .customLong("nodsn-bind"),
        help: ArgumentHelp("Also listen on HOST:PORT without advertising DSN.", valueName: "host:port"))
    var nodsnBind: BindArgument?

    @Option(help: "The store directory (default: a new temporary directory).")
    var store: String?

    @Option(name: .customLong("dns-server"), help: "DNS server for MX lookups of sender domains: HOST[:PORT].")
    var dnsServer: String?

    @Option(help: "Our host name in the greeting and Reporting-MTA (default: this machine's name).")
    var hostname: String?

    @Flag(name: .customLong("no-tls"), help: "Do not offer STARTTLS.")
    var noTLS = false

    @Flag(name: .shortAndLong, help: "Log each connection and message (debug level); twice for every reply (trace).")
    var verbose: Int

    func validate() throws {
        if !(latency >= 0) || !(delaySeconds >= 0) || !(slowSeconds >= 0) {
            throw ValidationError("--latency, --delay-seconds and --slow-seconds must not be negative")
        }
        if latency > 86400 || delaySeconds > 86400 || slowSeconds > 3600 {
            throw ValidationError("--latency, --delay-seconds or --slow-seconds too large")
        }
    }

    static func status(for error: any Error) -> ExitStatus? {
        Daemon.status(for: error) ?? ((error as? TransportError)?.kind == .configuration ? .configuration : nil)
    }

    func execute() async throws -> ExitStatus {
        Daemon.bootstrapLogging(verbose: verbose)
        let logger = Logger(label: "roundtrip.simulate")
        var routes: [String: HostPort] = [:]
        for r in route { routes[r.domain] = r.target }
        // A bad --dns-server is configuration (78), as for check.
        let resolver =
            try dnsServer.map { LibresolvResolver(server: try LibresolvResolver.parseServer($0)) }
            ?? LibresolvResolver()
        let storeDirectory: String
        if let store {
            storeDirectory = store
        } else {
            storeDirectory = (NSTemporaryDirectory() as NSString).appendingPathComponent(
                "roundtrip-simulate-\(UUID().uuidString.prefix(8).lowercased())")
        }
        let seconds = { (s: Double) in Duration.milliseconds(Int64((s * 1000).rounded())) }
        let configuration = SimulatorConfiguration(
            host: bind.host, port: bind.port, noDSNHost: nodsnBind?.host, noDSNPort: nodsnBind?.port,
            hostname: hostname ?? ConnectionOptions.localHostName(),
            domains: domain.isEmpty ? ["sim.test"] : domain, storeDirectory: storeDirectory, routes: routes,
            resolver: resolver,
            latency: seconds(latency), delay: seconds(delaySeconds), slowReplyDelay: seconds(slowSeconds),
            tls: noTLS ? .disabled : .selfSigned
        )
        try await Daemon.run(logger: logger) {
            let simulator = try Simulator(configuration: configuration, logger: logger)
            logger.info("store", metadata: ["sim.store": "\(storeDirectory)"])
            return simulator
        }
        return .ok
    }
}
