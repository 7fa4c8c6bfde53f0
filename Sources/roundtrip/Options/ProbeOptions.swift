import ArgumentParser
import Crypto
import Foundation
import MailTransport
import Roundtrip
import RoundtripCore
import SMTPCore

/// What to send and where: shared by `verify` and `send`.
struct ProbeOptions: ParsableArguments {
    @Option(
        name: .customLong("to"), help: ArgumentHelp("Recipient; repeat for several.", valueName: "address"),
        transform: SMTPMailbox.argument)
    var recipients: [SMTPMailbox] = []

    @Option(
        name: .customLong("to-file"),
        help: ArgumentHelp(
            "Recipients from this file, one address per line (blank lines and # comments skipped); - for standard input.",
            valueName: "file"))
    var toFile: String?

    @Option(
        help: ArgumentHelp("Return address: reports come back to LOCAL+TOKEN@DOMAIN.", valueName: "address"),
        transform: SMTPMailbox.argument)
    var from: SMTPMailbox

    @Option(
        help: ArgumentHelp(
            "Submit to this server (HOST[:PORT], default port 25) instead of the recipients' MX.",
            valueName: "host:port"))
    var server: ServerArgument?

    @Option(name: .customLong("mx-port"), help: "Port for MX delivery.")
    var mxPort: Int = 25

    @Option(
        help: ArgumentHelp(
            "How long to wait for reports: 90s, 10m, 1h. For send: when status calls it a timeout.",
            valueName: "duration"))
    var deadline: DurationArgument = DurationArgument(.seconds(600), text: "10m")

    @Option(
        help: ArgumentHelp(
            "DSN NOTIFY: NEVER or a list of SUCCESS,FAILURE,DELAY (default SUCCESS,FAILURE,DELAY).", valueName: "notify"
        ),
        transform: DSNNotify.argument)
    var notify: DSNNotify = .all

    @Option(help: "DSN RET: hdrs or full.")
    var ret: DSNReturn = .headers

    @Option(help: "Subject prefix (the token is appended).")
    var subject: String?

    @Option(name: .customLong("body-file"), help: "Message body from this file.")
    var bodyFile: String?

    @Option(
        name: .customLong("header"),
        help: ArgumentHelp("Extra header \"Name: value\"; repeat for several.", valueName: "header"),
        transform: HeaderArgument.argument)
    var headers: [HeaderArgument] = []

    @Option(help: "Pad the probe to at least N octets (tests size limits).")
    var size: Int?

    @Flag(name: .customLong("require-dsn"), help: "Do not send when the server does not offer DSN.")
    var requireDSN = false

    @Option(
        name: .customLong("dkim-key"),
        help:
            "Sign the probe with DKIM using this private key (PEM RSA or Ed25519, or a base64 Ed25519 seed; mode 600).")
    var dkimKey: String?

    @Option(name: .customLong("dkim-selector"), help: "The DKIM selector (s=); needed with --dkim-key.")
    var dkimSelector: String?

    @Option(name: .customLong("dkim-domain"), help: "The DKIM signing domain (d=; default: --from's domain).")
    var dkimDomain: String?

    @Option(
        name: .customLong("dkim-algorithm"),
        help: "rsa-sha256 or ed25519-sha256 (default: the key's kind).")
    var dkimAlgorithm: DKIMAlgorithmArgument?

    func validate() throws {
        guard !recipients.isEmpty || toFile != nil else { throw ValidationError("give at least one --to or --to-file") }
        if toFile == nil { _ = try Self.unique(recipients) }
        if let subject { do { try ProbeBuilder.checkSubject(subject) } catch { throw ValidationError("\(error)") } }
        if let size, size < 0 || size > 100_000_000 { throw ValidationError("--size must be 0 to 100000000") }
        if !(1...65535).contains(mxPort) { throw ValidationError("--mx-port must be 1-65535") }
        if (dkimKey == nil) != (dkimSelector == nil) {
            throw ValidationError("--dkim-key and --dkim-selector go together")
        }
        if dkimKey == nil && (dkimDomain != nil || dkimAlgorithm != nil) {
            throw ValidationError("--dkim-domain and --dkim-algorithm need --dkim-key")
        }
    }

    /// The largest --to-file read (a million addresses fit comfortably).
    static let maxRecipientFile = 64 << 20

    /// The recipients of --to and then --to-file, each once.
    func allRecipients() throws -> [SMTPMailbox] {
        guard let toFile else { return recipients }
        let name = toFile == "-" ? "standard input" : toFile
        let text: String
        if toFile == "-" {
            var data = Data()
            while let chunk = try FileHandle.standardInput.read(upToCount: 1 << 16), !chunk.isEmpty {
                data.append(chunk)
                if data.count > Self.maxRecipientFile { break }
            }
            text = try Self.recipientText(data, name: name)
        } else {
            let path = (toFile as NSString).expandingTildeInPath
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw ValidationError("cannot read --to-file \(toFile)")
            }
            defer { try? handle.close() }
            let data = try handle.read(upToCount: Self.maxRecipientFile + 1) ?? Data()
            text = try Self.recipientText(data, name: name)
        }
        return try Self.unique(recipients + Self.recipientList(text, name: name))
    }

    static func recipientText(_ data: Data, name: String) throws -> String {
        guard data.count <= maxRecipientFile else {
            throw ValidationError("--to-file \(name) is larger than \(maxRecipientFile >> 20) MiB")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw ValidationError("--to-file \(name) is not UTF-8 text")
        }
        return text
    }

    /// One address per line; blank lines and lines starting with `#` are skipped, surrounding
    /// white space is ignored. A line that is not an address is an error naming the line.
    static func recipientList(_ text: String, name: String) throws -> [SMTPMailbox] {
        var out: [SMTPMailbox] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            do { out.append(try SMTPMailbox(line)) } catch {
                throw ValidationError("--to-file \(name), line \(i + 1): \(error)")
            }
        }
        guard !out.isEmpty else { throw ValidationError("--to-file \(name) has no address") }
        return out
    }

    /// Each recipient once: the ledger and the reports match addresses without regard to case.
    static func unique(_ list: [SMTPMailbox]) throws -> [SMTPMailbox] {
        var seen = Set<String>()
        for m in list where !seen.insert(m.description.lowercased()).inserted {
            throw ValidationError("recipient \(m) is given twice")
        }
        return list
    }

    /// The DKIM signer, when --dkim-key is given. The key file must be private (mode 600).
    func dkimSigner() throws -> DKIMSigner? {
        guard let dkimKey, let dkimSelector else { return nil }
        let text = try Secrets.privateKey(file: dkimKey)
        do {
            let key = try DKIMSigner.key(from: text, algorithm: dkimAlgorithm?.algorithm)
            return try DKIMSigner(key: key, domain: dkimDomain ?? from.domain, selector: dkimSelector)
        } catch {
            throw TransportError(.configuration, step: .data, message: "--dkim-key \(dkimKey): \(error)")
        }
    }

    func configuration(connection: ConnectionOptions, key: SymmetricKey, ledger: (any LedgerStore)?, strict: Bool)
        throws
        -> VerifyConfiguration
    {
        var body: [UInt8]?
        if let bodyFile {
            guard let data = FileManager.default.contents(atPath: (bodyFile as NSString).expandingTildeInPath) else {
                throw TransportError(.configuration, step: .data, message: "cannot read --body-file \(bodyFile)")
            }
            body = Array(data)
        }
        let builder = ProbeBuilder(
            from: from, recipients: try allRecipients(), notify: notify, ret: ret,
            subject: subject, body: body, headers: headers.map { ($0.name, $0.value) }, size: size
        )
        var signed = builder
        signed.dkim = try dkimSigner()
        return VerifyConfiguration(
            builder: signed, server: server?.hostPort(defaultPort: 25), dialog: try connection.dialogOptions(),
            resolver: try connection.resolver() ?? LibresolvResolver(), mxPort: mxPort, requireDSN: requireDSN,
            deadline: deadline.duration, strict: strict, key: key, ledger: ledger
        )
    }
}

/// `--dkim-algorithm`.
struct DKIMAlgorithmArgument: ExpressibleByArgument, Hashable, Sendable {
    var algorithm: DKIMSigner.Algorithm

    init?(argument: String) {
        guard let a = DKIMSigner.Algorithm(rawValue: argument.lowercased()) else { return nil }
        algorithm = a
    }

    static var allValueStrings: [String] { DKIMSigner.Algorithm.allCases.map(\.rawValue) }
}
