import ArgumentParser
import Foundation
import MailTransport
import MailboxCore
import NIOCore
import Roundtrip

/// `verify --arrival`: the recipients' mailboxes where the probe itself is looked for.
struct ArrivalOptions: ParsableArguments {
    @Option(
        name: .customLong("arrival"),
        help: ArgumentHelp(
            "Watch this recipient mailbox and its Junk folder for the probe itself: imap[s]://USER@HOST[:PORT]/MAILBOX; repeat for several.",
            valueName: "url"),
        transform: MailboxURLArgument.argument)
    var arrivals: [MailboxURLArgument] = []

    @Option(
        name: .customLong("arrival-password-file"),
        help: ArgumentHelp(
            "The password of the --arrival mailboxes (default: ROUNDTRIP_ARRIVAL_PASSWORD).", valueName: "file"))
    var passwordFile: String?

    @Option(
        name: .customLong("arrival-junk"),
        help: ArgumentHelp(
            "A Junk folder to watch besides the one the server marks \\Junk (RFC 6154).", valueName: "name"))
    var junk: String?

    @Option(
        name: .customLong("arrival-authserv-id"),
        help: ArgumentHelp(
            "Trust only the Authentication-Results added by this authserv-id (default: the topmost field's).",
            valueName: "id"))
    var authservID: String?

    @Flag(
        name: .customLong("no-report"),
        help: "No report is expected (a pure mailbox loop): the arrival alone proves a recipient (needs --arrival).")
    var noReport = false

    func validate() throws {
        for a in arrivals where !a.url.scheme.isIMAP {
            throw ValidationError("--arrival \(a.text): only imap:// and imaps:// mailboxes can be watched")
        }
        if arrivals.isEmpty && (noReport || junk != nil || authservID != nil || passwordFile != nil) {
            throw ValidationError(
                "--no-report, --arrival-junk, --arrival-authserv-id and --arrival-password-file need --arrival")
        }
    }

    static let environmentVariable = "ROUNDTRIP_ARRIVAL_PASSWORD"

    func watches(connection: ConnectionOptions, cleanup: Bool, log: @escaping @Sendable (String) -> Void) throws
        -> [ArrivalWatch]
    {
        guard !arrivals.isEmpty else { return [] }
        let password = try Secrets.password(file: passwordFile, environment: Self.environmentVariable)
        let t = TimeAmount.nanoseconds(Int64((connection.timeout ?? 30) * 1e9))
        return arrivals.map { a in
            ArrivalWatch(
                options: MailboxServerOptions(
                    url: a.url, password: password,
                    tls: connection.tlsOptions.policy(transport: a.url.scheme.implicitTLS ? .implicit : .starttls),
                    allowPlaintextAuth: connection.tlsOptions.allowPlaintextAuth, timeout: t, connectTimeout: t),
                junkName: junk, cleanup: cleanup, log: log)
        }
    }
}
