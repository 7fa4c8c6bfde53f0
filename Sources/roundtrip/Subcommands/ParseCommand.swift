import ArgumentParser
import DeliveryReports
import Foundation
import MailCore

/// `roundtrip parse FILE...`: parse DSN/NDR messages from files, Maildir folders, mbox files or
/// stdin (`-`) and print the reports. Schema: docs/parse-json.md.
///
/// Exit status: 0 when every input was read, 1 when some input could not be read, 64 on usage errors.
struct ParseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse",
        abstract: "Parse delivery status notifications and bounce messages.",
        discussion: """
            Each FILE may be a message file, a Maildir folder (new/ and cur/ are read), an mbox file \
            (split mboxrd-style), or - for standard input. Unreadable inputs are reported and the run \
            goes on; the exit status is then 1.

            Examples:
              roundtrip parse bounce.eml
              roundtrip parse --format json ~/Maildir
              cat bounce.eml | roundtrip parse --format jsonl -
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable, Sendable {
        case text, json, jsonl
    }

    @Option(name: .long, help: "Output format: text, json (one array) or jsonl (one object per line).")
    var format: Format = .text

    @Argument(help: "Message files, Maildir folders, mbox files, or - for stdin.")
    var inputs: [String]

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one FILE, folder, or - for stdin") }
    }

    func run() throws {
        var results: [ParsedMessage] = []
        var unreadable = false
        let out = FileHandle.standardOutput

        func emit(_ r: ParsedMessage) {
            if r.error != nil { unreadable = true }
            switch format {
            case .text:
                out.write(Data(r.renderText().utf8))
            case .jsonl:
                out.write(Data((r.jsonString() + "\n").utf8))
            case .json:
                results.append(r)
            }
        }

        for input in inputs {
            for message in MessageSource.messages(from: input) {
                switch message {
                case .failure(let file, let error):
                    emit(ParsedMessage(file: file, error: error))
                case .success(let file, let bytes):
                    do {
                        let report = try DeliveryReportParser.parse(bytes)
                        emit(ParsedMessage(file: file, report: report))
                    } catch {
                        emit(ParsedMessage(file: file, error: error.description))
                    }
                }
            }
        }
        if format == .json {
            let body = results.map { "  " + $0.jsonString() }.joined(separator: ",\n")
            out.write(Data(("[\n" + body + (results.isEmpty ? "" : "\n") + "]\n").utf8))
        }
        if unreadable { throw ExitCode(1) }
    }
}

/// Reads messages from files, Maildir folders, mbox files and stdin.
enum MessageSource {
    enum Item {
        case success(file: String, bytes: [UInt8])
        case failure(file: String, error: String)
    }

    static func messages(from input: String) -> [Item] {
        if input == "-" {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            return split(file: "-", bytes: [UInt8](data))
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
            return [.failure(file: input, error: "no such file or directory")]
        }
        if isDirectory.boolValue { return maildir(input) }
        return readFile(input)
    }

    static func readFile(_ path: String) -> [Item] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return [.failure(file: path, error: "cannot open file")]
        }
        defer { try? handle.close() }
        do {
            let data = try handle.readToEnd() ?? Data()
            return split(file: path, bytes: [UInt8](data))
        } catch {
            return [.failure(file: path, error: "read failed: \(error.localizedDescription)")]
        }
    }

    /// An mbox file becomes one item per message; it is named `file#N` (1-based) only when the file
    /// holds several messages, by its path alone when it holds one. Anything else is one message.
    static func split(file: String, bytes: [UInt8]) -> [Item] {
        if Mbox.looksLikeMbox(bytes[...]) {
            let messages = Mbox.split(bytes)
            if messages.count == 1 { return [.success(file: file, bytes: messages[0])] }
            return messages.enumerated().map { .success(file: "\(file)#\($0.offset + 1)", bytes: $0.element) }
        }
        if bytes.count <= 3 && bytes.allSatisfy({ $0 == 0x0A || $0 == 0x0D || $0 == 0x20 }) { return [] }
        return [.success(file: file, bytes: bytes)]
    }

    /// A Maildir folder: `new/` and `cur/` (never `tmp/`), names starting with `.` skipped. A folder
    /// without them is read as a plain directory of message files.
    static func maildir(_ path: String) -> [Item] {
        let fm = FileManager.default
        let base = URL(fileURLWithPath: path)
        var dirs: [URL] = []
        for sub in ["new", "cur"] {
            var isDir: ObjCBool = false
            let u = base.appendingPathComponent(sub)
            if fm.fileExists(atPath: u.path, isDirectory: &isDir), isDir.boolValue { dirs.append(u) }
        }
        if dirs.isEmpty { dirs = [base] }
        var items: [Item] = []
        for dir in dirs {
            guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else {
                items.append(.failure(file: dir.path, error: "cannot list directory"))
                continue
            }
            for name in names.sorted() where !name.hasPrefix(".") {
                let file = dir.appendingPathComponent(name).path
                var isDir: ObjCBool = false
                // Vanished between readdir and open: another reader moved it; skip quietly.
                guard fm.fileExists(atPath: file, isDirectory: &isDir) else { continue }
                if isDir.boolValue { continue }
                items.append(contentsOf: readFile(file))
            }
        }
        return items
    }
}

/// One output record (docs/parse-json.md).
struct ParsedMessage {
    var file: String
    var report: DeliveryReport?
    var error: String?

    init(file: String, report: DeliveryReport) {
        self.file = file
        self.report = report
    }

    init(file: String, error: String) {
        self.file = file
        self.error = error
    }

    func jsonObject() -> [String: Any] {
        var o: [String: Any] = ["file": file]
        guard let r = report else {
            o["error"] = error ?? "unknown error"
            return o
        }
        o["kind"] = r.kind.name
        switch r.kind {
        case .legacy(let family): o["family"] = family
        case .notAReport(let reason): o["reason"] = reason.rawValue
        default: break
        }
        o["envelopeId"] = r.originalEnvelopeID ?? NSNull()
        o["reportingMTA"] = r.reportingMTA?.value ?? NSNull()
        o["recipients"] = r.recipients.map { rr -> [String: Any] in
            [
                "recipient": rr.address,
                "originalRecipient": rr.originalRecipientDecoded ?? rr.originalRecipient?.value ?? NSNull(),
                "action": rr.action.rawValue,
                "actionInferred": rr.actionInferred,
                "status": rr.status?.description ?? NSNull(),
                "statusLiteral": !rr.statusIsPseudo,
                "remoteMTA": rr.remoteMTA?.value ?? NSNull(),
                "diagnostic": rr.diagnostic ?? NSNull(),
            ]
        }
        var rh: [String: Any] = [:]
        if let h = r.returnedHeaders {
            rh["source"] = h.source.rawValue
            rh["messageId"] = h.messageID ?? NSNull()
            rh["subject"] = h.subject ?? NSNull()
            rh["xRoundtripProbe"] = h.roundtripProbe ?? NSNull()
            rh["from"] = h.from ?? NSNull()
            rh["to"] = h.to ?? NSNull()
            rh["date"] = h.date ?? NSNull()
            o["returnedHeaders"] = rh
        } else {
            o["returnedHeaders"] = NSNull()
        }
        o["envelope"] = [
            "to": r.envelope.to,
            "deliveredTo": r.envelope.deliveredTo,
            "xOriginalTo": r.envelope.xOriginalTo,
            "returnPath": r.envelope.returnPath ?? NSNull(),
        ] as [String: Any]
        return o
    }

    func jsonString() -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: jsonObject(), options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{\"file\":\"\(file)\",\"error\":\"cannot encode\"}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    func renderText() -> String {
        guard let r = report else { return "\(file): error: \(error ?? "unknown")\n" }
        var s = "\(file): \(r.kind.name)"
        switch r.kind {
        case .legacy(let family): s += " (\(family))"
        case .notAReport(let reason): s += " (\(reason.rawValue))"
        default: break
        }
        s += "\n"
        if let id = r.originalEnvelopeID { s += "  envelope-id: \(id)\n" }
        if let mta = r.reportingMTA { s += "  reporting-mta: \(mta.value)\n" }
        for rr in r.recipients {
            s += "  \(rr.address): \(rr.action.rawValue) \(rr.status?.description ?? "-")\(rr.statusIsPseudo ? " (guessed)" : "")"
            if let m = rr.remoteMTA { s += " via \(m.value)" }
            s += "\n"
            if let d = rr.diagnostic { s += "    \(d.prefix(200))\n" }
        }
        if let h = r.returnedHeaders {
            if let id = h.messageID { s += "  returned message-id: \(id)\n" }
            if let p = h.roundtripProbe { s += "  returned x-roundtrip-probe: \(p)\n" }
            if let sub = h.subject { s += "  returned subject: \(sub)\n" }
        }
        return s
    }
}
