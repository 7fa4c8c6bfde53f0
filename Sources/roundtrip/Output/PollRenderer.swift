import Foundation
import MailTransport
import Roundtrip

/// Prints messages as they come (text, jsonl) or one document at the end (json); the
/// transcript on stderr with -v. Told by the run's tasks, hence the lock.
final class PollOutput: PollObserver, @unchecked Sendable {
    let format: PollFormat
    let mailbox: String
    let kind: String
    let verbose: Bool
    private let lock = NSLock()
    private var messages: [PollMessage] = []
    private var _tls: TLSReport?
    private var _alerts: [String] = []
    private var _cleanup: CleanupReport?
    private var _error: String?

    init(format: PollFormat, mailbox: String, kind: String, verbose: Bool) {
        self.format = format
        self.mailbox = mailbox
        self.kind = kind
        self.verbose = verbose
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    var error: String? {
        get { locked { _error } }
        set { locked { _error = newValue } }
    }
    func connected(tls: TLSReport?) { locked { _tls = tls } }

    func reconnecting(after error: MailboxError) {
        FileHandle.standardError.write(Data("roundtrip poll: \(error); reconnecting\n".utf8))
    }

    func alerts(_ alerts: [String]) { locked { _alerts = alerts } }

    func cleanedUp(_ report: CleanupReport) { locked { _cleanup = report } }

    func transcript(_ entries: [TranscriptEntry]) {
        guard verbose else { return }
        var s = ""
        for e in entries {
            let dir = e.direction == .client ? "C:" : e.direction == .server ? "S:" : "--"
            s += String(format: "%8.3f ", e.at) + "\(dir) \(e.text)\n"
        }
        FileHandle.standardError.write(Data(s.utf8))
    }

    static func encoder(pretty: Bool) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting =
            pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }

    static func write(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }

    func received(_ p: PollMessage) {
        locked { messages.append(p) }
        switch format {
        case .text:
            Self.write(Self.textLine(p) + "\n")
        case .jsonl:
            if let data = try? Self.encoder(pretty: false).encode(p) {
                Self.write(String(decoding: data, as: UTF8.self) + "\n")
            }
        case .json:
            break
        }
    }

    static func textLine(_ p: PollMessage) -> String {
        func clean(_ s: String?) -> String {
            guard let s, !s.isEmpty else { return "-" }
            let flat = s.map { $0.isNewline || $0 == "\t" ? " " : $0 }
            return String(flat.prefix(200))
        }
        return [
            p.source, "size=\(p.size)", p.multipartReport ? "report=yes" : "report=no",
            "from=\(clean(p.from))", "subject=\(clean(p.subject))", "message-id=\(clean(p.messageId))",
        ].joined(separator: "\t")
    }

    func finish(exitCode: Int32) {
        let doc = locked {
            PollDocument(
                mailbox: mailbox, kind: kind, messages: messages, tls: _tls, alerts: _alerts, cleanup: _cleanup,
                error: _error, exitCode: exitCode)
        }
        switch format {
        case .json:
            if let data = try? Self.encoder(pretty: true).encode(doc) {
                Self.write(String(decoding: data, as: UTF8.self) + "\n")
            }
        case .text:
            for a in doc.alerts { FileHandle.standardError.write(Data("ALERT from the server: \(a)\n".utf8)) }
            if let c = doc.cleanup {
                var line = "cleanup: \(c.method.rawValue), \(c.removed.count) removed, \(c.kept.count) kept"
                if let note = c.note { line += " (\(note))" }
                Self.write(line + "\n")
                for (s, why) in c.kept.sorted(by: { $0.key < $1.key }) { Self.write("  kept \(s): \(why)\n") }
            }
            if exitCode == 0 { FileHandle.standardError.write(Data("\(doc.messages.count) message(s)\n".utf8)) }
        case .jsonl:
            if let c = doc.cleanup, let data = try? Self.encoder(pretty: false).encode(["cleanup": c]) {
                Self.write(String(decoding: data, as: UTF8.self) + "\n")
            }
        }
    }
}
