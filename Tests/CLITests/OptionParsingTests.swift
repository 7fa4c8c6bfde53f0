import ArgumentParser
import Foundation
import MailTransport
import MailboxCore
import SMTPCore
import Testing

@testable import roundtrip

/// Every subcommand's options, parsed as `main` parses them (`parseAsRoot`, which also runs
/// `validate()`): typed values come out, and a value that does not parse is a usage error (64).
@Suite struct OptionParsingTests {
    func parse<C: ParsableCommand>(_ arguments: [String], as _: C.Type = C.self) throws -> C {
        let command = try RoundtripCommand.parseAsRoot(arguments)
        return try #require(command as? C, "parsed \(type(of: command))")
    }

    /// The code `main` exits with for a parse or validation error.
    func usageCode(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) -> Int32? {
        do {
            _ = try RoundtripCommand.parseAsRoot(arguments)
            Issue.record("\(arguments) parsed", sourceLocation: sourceLocation)
            return nil
        } catch {
            return RoundtripCommand.exitCode(for: error).rawValue
        }
    }

    @Test func checkTakesAServerOrADomain() throws {
        let c = try parse(
            [
                "check", "mx.example.org:2525", "--from", "<>", "--rcpt", "alice@example.org", "--rcpt",
                "bob@example.org",
                "--starttls", "require", "--tls-verify", "strict", "--ca-file", "/tmp/ca.pem", "--format", "json", "-v",
            ],
            as: CheckCommand.self)
        #expect(c.server == ServerArgument(argument: "mx.example.org:2525"))
        #expect(c.server?.hostPort(defaultPort: 25) == HostPort(host: "mx.example.org", port: 2525))
        #expect(c.from == "<>")
        #expect(c.rcpt == ["alice@example.org", "bob@example.org"])
        #expect(c.connection.tlsOptions.starttls == .require)
        #expect(c.connection.tlsOptions.tlsVerify == .strict)
        #expect(c.connection.tlsPolicy.caFile == "/tmp/ca.pem")
        #expect(c.format == .json)
        #expect(c.verbose)

        let implicit = try parse(
            ["check", "[::1]", "--tls", "implicit", "--allow-plaintext-auth"], as: CheckCommand.self)
        #expect(implicit.server?.port == nil)
        #expect(implicit.server?.hostPort(defaultPort: 465) == HostPort(host: "::1", port: 465))
        #expect(implicit.connection.tlsPolicy.transport == .implicit)
        #expect(implicit.connection.tlsOptions.allowPlaintextAuth)

        let domain = try parse(
            ["check", "--domain", "example.org", "--dns-server", "127.0.0.1:5353", "--timeout", "5"],
            as: CheckCommand.self)
        #expect(domain.domain == "example.org")
        #expect(domain.connection.timeout == 5)
    }

    @Test func checkRefusesBadValues() {
        #expect(usageCode(["check"]) == 64)
        #expect(usageCode(["check", "a.example", "--domain", "example.org"]) == 64)
        #expect(usageCode(["check", "a.example:0"]) == 64)
        #expect(usageCode(["check", "a.example:99999"]) == 64)
        #expect(usageCode(["check", "a.example", "--rcpt", "no-at-sign"]) == 64)
        #expect(usageCode(["check", "a.example", "--from", "alice@exa\u{7}mple.org"]) == 64)
        #expect(usageCode(["check", "a.example", "--starttls", "sometimes"]) == 64)
        #expect(usageCode(["check", "a.example", "--password-file", "pw"]) == 64)
        #expect(usageCode(["check", "a.example", "--auth-mechanism", "CRAM-MD5"]) == 64)
        #expect(usageCode(["check", "a.example", "--timeout", "0"]) == 64)
    }

    @Test func verifyParsesProbeReceiptAndConnectionOptions() throws {
        let v = try parse(
            [
                "verify", "--to", "alice@example.org", "--to", "bob@example.com", "--from", "rt@bounce.example.net",
                "--server", "smtp.example.net:587", "--deadline", "90s", "--notify", "failure,delay", "--ret", "FULL",
                "--header", "X-Test: yes", "--imap", "imaps://rt%40example.net@imap.example.net/INBOX", "--strict",
                "--format", "nagios", "--ledger", "/tmp/l.sqlite", "--tls-verify", "off",
            ],
            as: VerifyCommand.self)
        #expect(v.probe.recipients.map(\.description) == ["alice@example.org", "bob@example.com"])
        #expect(v.probe.from.domain == "bounce.example.net")
        #expect(v.probe.server?.hostPort(defaultPort: 25) == HostPort(host: "smtp.example.net", port: 587))
        #expect(v.probe.deadline.duration == .seconds(90))
        #expect(v.probe.notify == (try DSNNotify([.failure, .delay])))
        #expect(v.probe.ret == .full)
        #expect(v.probe.headers == [HeaderArgument(name: "X-Test", value: "yes")])
        #expect(v.receipt.imap?.url.scheme == .imaps)
        #expect(v.receipt.imap?.url.user == "rt@example.net")
        #expect(v.receipt.imap?.text == "imaps://rt%40example.net@imap.example.net/INBOX")
        #expect(v.strict)
        #expect(v.format == .nagios)
        #expect(v.ledgerOptions.ledger == "/tmp/l.sqlite")
        #expect(v.connection.tlsOptions.tlsVerify == .off)

        let defaults = try parse(
            ["verify", "--to", "a@example.org", "--from", "b@example.net", "--listen", "127.0.0.1:2525"],
            as: VerifyCommand.self)
        #expect(defaults.probe.deadline.duration == .seconds(600))
        #expect(defaults.probe.notify == .all)
        #expect(defaults.probe.ret == .headers)
        #expect(defaults.receipt.listen?.hostPort(defaultPort: 25) == HostPort(host: "127.0.0.1", port: 2525))
    }

    @Test func verifyRefusesBadValues() {
        let base = ["verify", "--to", "a@example.org", "--from", "b@example.net"]
        #expect(usageCode(["verify", "--from", "b@example.net"]) == 64)
        #expect(usageCode(["verify", "--to", "a@example.org"]) == 64)
        #expect(usageCode(base + ["--deadline", "soon"]) == 64)
        #expect(usageCode(base + ["--deadline", "-5m"]) == 64)
        #expect(usageCode(base + ["--notify", "NEVER,SUCCESS"]) == 64)
        #expect(usageCode(base + ["--ret", "body"]) == 64)
        #expect(usageCode(base + ["--header", "no colon"]) == 64)
        #expect(usageCode(base + ["--subject", "a\rb"]) == 64)
        #expect(usageCode(base + ["--server", "smtp.example.net:x"]) == 64)
        #expect(usageCode(base + ["--imap", "http://example.org"]) == 64)
        #expect(usageCode(base + ["--mx-port", "0"]) == 64)
    }

    @Test func recipientsFromAFile() throws {
        let file = NSTemporaryDirectory() + "roundtrip-to-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "# probe targets\nalice@example.org\r\n\n  bob@example.com  \n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let v = try parse(
            ["verify", "--to", "carol@example.net", "--to-file", file, "--from", "b@example.net"],
            as: VerifyCommand.self)
        #expect(
            try v.probe.allRecipients().map(\.description) == [
                "carol@example.net", "alice@example.org", "bob@example.com",
            ])
        // Only --to-file: enough for validation; the file is read when the probe is built.
        _ = try parse(["verify", "--to-file", file, "--from", "b@example.net"], as: VerifyCommand.self)

        #expect(throws: ValidationError.self) {
            try ProbeOptions.recipientList("a@example.org\nnot an address\n", name: "f")
        }
        do {
            _ = try ProbeOptions.recipientList("a@example.org\n\nnot an address\n", name: "list.txt")
            Issue.record("a line that is not an address was accepted")
        } catch let e as ValidationError {
            #expect(e.message.contains("list.txt, line 3"), "\(e.message)")
        }
        #expect(throws: ValidationError.self) { try ProbeOptions.recipientList("# only a comment\n", name: "f") }
        #expect(throws: ValidationError.self) {
            try ProbeOptions.unique([try SMTPMailbox("a@example.org"), try SMTPMailbox("A@Example.org")])
        }
        #expect(
            usageCode(["verify", "--to", "a@example.org", "--to", "a@example.org", "--from", "b@example.net"]) == 64)
    }

    @Test func sendAndStatus() throws {
        let s = try parse(
            ["send", "--to", "a@example.org", "--from", "b@example.net", "--deadline", "1h", "--format", "json"],
            as: SendCommand.self)
        #expect(s.probe.deadline.duration == .seconds(3600))
        #expect(s.format == .json)

        let st = try parse(
            ["status", "abcdefghijklmnopqrstuvwx", "--wait", "500ms", "--limit", "5", "--format", "junit"],
            as: StatusCommand.self)
        #expect(st.token == "abcdefghijklmnopqrstuvwx")
        #expect(st.wait?.duration == .milliseconds(500))
        #expect(st.wait?.seconds == 0.5)
        #expect(st.limit == 5)
        #expect(try parse(["status"], as: StatusCommand.self).wait == nil)
        #expect(usageCode(["status", "--wait", "5m"]) == 64)
        #expect(usageCode(["status", "--format", "nagios"]) == 64)
        #expect(usageCode(["status", "tok", "--wait", "5 minutes"]) == 64)
    }

    @Test func listenAndSimulateTakeAddresses() throws {
        let l = try parse(
            [
                "listen", "--bind", "[::1]:2627", "--domain", "b.example.org", "--store", "/tmp/s", "--accept",
                "reports",
                "--sync", "batch", "-vv",
            ], as: ListenCommand.self)
        #expect(l.bind == BindArgument(host: "::1", port: 2627))
        #expect(l.sync == .batch)
        #expect(l.verbose == 2)
        #expect(
            try parse(["listen", "--domain", "b.example.org", "--store", "/tmp/s"], as: ListenCommand.self).bind
                == BindArgument(host: "0.0.0.0", port: 25))
        #expect(usageCode(["listen", "--domain", "d", "--store", "s", "--bind", "0.0.0.0"]) == 64)
        #expect(usageCode(["listen", "--store", "s"]) == 64)
        #expect(usageCode(["listen", "--domain", "d", "--store", "s", "--accept", "a+b"]) == 64)
        #expect(usageCode(["listen", "--domain", "d", "--store", "s", "--tls-cert", "c.pem"]) == 64)

        let s = try parse(
            [
                "simulate", "--bind", "127.0.0.1:0", "--route", "RT.test=127.0.0.1:2527", "--route", "x.test=[::1]:25",
                "--nodsn-bind", "127.0.0.1:2526", "--latency", "0.5",
            ], as: SimulateCommand.self)
        #expect(s.bind.port == 0)
        #expect(s.route.map(\.domain) == ["rt.test", "x.test"])
        #expect(s.route.map(\.target) == [HostPort(host: "127.0.0.1", port: 2527), HostPort(host: "::1", port: 25)])
        #expect(s.nodsnBind == BindArgument(host: "127.0.0.1", port: 2526))
        #expect(usageCode(["simulate", "--route", "rt.test"]) == 64)
        #expect(usageCode(["simulate", "--route", "=127.0.0.1:25"]) == 64)
        #expect(usageCode(["simulate", "--latency", "-1"]) == 64)
    }

    @Test func pollTakesOneMailboxAndSharesTLSOptions() throws {
        let p = try parse(
            [
                "poll", "--imap", "imap://user@127.0.0.1:2143/INBOX", "--starttls", "require", "--ca-file", "ca.pem",
                "--allow-plaintext-auth", "--since", "2026-02-28", "--watch", "--count", "2", "--format", "jsonl",
            ],
            as: PollCommand.self)
        #expect(p.imap?.url.port == 2143)
        #expect(p.tlsOptions.starttls == .require)
        #expect(p.tlsOptions.policy(transport: .starttls).caFile == "ca.pem")
        #expect(p.tlsOptions.allowPlaintextAuth)
        #expect(p.since?.date == Date(timeIntervalSince1970: 1_772_236_800))
        #expect(p.count == 2)
        #expect(try parse(["poll", "--maildir", "/tmp/m", "--include-cur"], as: PollCommand.self).includeCur)
        #expect(usageCode(["poll"]) == 64)
        #expect(usageCode(["poll", "--maildir", "m", "--pop3", "pop3://u@h"]) == 64)
        #expect(usageCode(["poll", "--imap", "pop3://u@h"]) == 64)
        #expect(usageCode(["poll", "--imap", "imap://h/INBOX"]) == 64)
        #expect(usageCode(["poll", "--maildir", "m", "--since", "2026-02-30"]) == 64)
        #expect(usageCode(["poll", "--maildir", "m", "--cleanup"]) == 64)
        #expect(usageCode(["poll", "--maildir", "m", "--search", "not a token"]) == 64)
        #expect(usageCode(["poll", "--maildir", "m", "--count", "3"]) == 64)
    }

    @Test func parseAndDemo() throws {
        let p = try parse(["parse", "--format", "jsonl", "a.eml", "-"], as: ParseCommand.self)
        #expect(p.inputs == ["a.eml", "-"])
        #expect(p.format == .jsonl)
        #expect(usageCode(["parse"]) == 64)
        #expect(usageCode(["parse", "--format", "xml", "a.eml"]) == 64)

        let d = try parse(["demo", "--delay-seconds", "1", "--format", "json"], as: DemoCommand.self)
        #expect(d.delaySeconds == 1)
        #expect(d.format == .json)
    }

    @Test func durations() {
        #expect(DurationArgument(argument: "90s")?.duration == .seconds(90))
        #expect(DurationArgument(argument: "10m")?.duration == .seconds(600))
        #expect(DurationArgument(argument: "1H")?.duration == .seconds(3600))
        #expect(DurationArgument(argument: "250ms")?.duration == .milliseconds(250))
        #expect(DurationArgument(argument: "1.5")?.duration == .milliseconds(1500))
        #expect(DurationArgument(argument: "10m")?.defaultValueDescription == "10m")
        for bad in ["", "m", "ten minutes", "-1s", "nan", "inf", "1e300"] {
            #expect(DurationArgument(argument: bad) == nil, "\(bad)")
        }
    }

    /// The config file turns a table's keys into long options; the typed options still take them.
    @Test func configFileValuesParse() throws {
        let toml = """
            [verify]
            deadline = "90s"
            notify = "failure"
            to = ["a@example.org"]
            from = "b@example.net"
            tls-verify = "strict"
            allow-plaintext-auth = true
            """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cli-config-\(UUID().uuidString).toml")
            .path
        try toml.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let arguments = try ConfigFile.apply(to: ["verify", "--config", file, "--deadline", "5m"], environment: [:])
        let v = try parse(arguments, as: VerifyCommand.self)
        #expect(v.probe.deadline.duration == .seconds(300))
        #expect(v.probe.notify == (try DSNNotify([.failure])))
        #expect(v.connection.tlsOptions.tlsVerify == .strict)
        #expect(v.connection.tlsOptions.allowPlaintextAuth)
    }
}
