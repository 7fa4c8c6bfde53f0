import DeliveryReports
import Foundation
import MailCore
import MailTransport

/// `roundtrip parse`: delivery reports from message files, Maildir folders, mbox files and
/// standard input (`-`), one record per message, read one file at a time as the records are
/// taken (docs/parse-json.md). Inputs that cannot be read become records with an `error`.
public struct ParseRun: Sequence, Sendable {
    public var inputs: [String]
    /// Where `-` reads from (standard input; tests give bytes).
    public var standardInput: @Sendable () -> [UInt8]

    public init(
        inputs: [String],
        standardInput: @escaping @Sendable () -> [UInt8] = { [UInt8](FileHandle.standardInput.readDataToEndOfFile()) }
    ) {
        self.inputs = inputs
        self.standardInput = standardInput
    }

    public func makeIterator() -> Iterator {
        Iterator(inputs: inputs[...], standardInput: standardInput)
    }

    public struct Iterator: IteratorProtocol {
        var inputs: ArraySlice<String>
        let standardInput: @Sendable () -> [UInt8]
        /// The files of a folder still to read.
        var files: ArraySlice<String> = []
        /// The messages of one file still to parse, or the failure to read it.
        var ready: ArraySlice<Item> = []

        enum Item {
            case message(name: String, bytes: [UInt8])
            case failure(name: String, error: String)
        }

        public mutating func next() -> ParseRecord? {
            while true {
                if let item = ready.popFirst() {
                    switch item {
                    case .failure(let name, let error):
                        return ParseRecord(file: name, error: error)
                    case .message(let name, let bytes):
                        do {
                            return ParseRecord(file: name, report: try DeliveryReportParser.parse(bytes))
                        } catch {
                            return ParseRecord(file: name, error: error.description)
                        }
                    }
                }
                if let file = files.popFirst() {
                    var isDirectory: ObjCBool = false
                    // Vanished between listing and reading (another reader moved it), or a
                    // folder inside the folder: skipped quietly.
                    guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory),
                        !isDirectory.boolValue
                    else { continue }
                    // A folder's files are read as a Maildir's: never through a link, size capped.
                    if let (bytes, _) = MaildirReader.readFile(file, limit: Self.maxMessageSize) {
                        ready = Self.split(name: file, bytes: bytes)[...]
                    } else {
                        ready = [
                            .failure(
                                name: file,
                                error:
                                    "not read: a link, not a regular file, or larger than \(Self.maxMessageSize) octets"
                            )
                        ]
                    }
                    continue
                }
                guard let input = inputs.popFirst() else { return nil }
                if input == "-" {
                    ready = Self.split(name: "-", bytes: standardInput())[...]
                    continue
                }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
                    ready = [.failure(name: input, error: "no such file or directory")]
                    continue
                }
                if isDirectory.boolValue {
                    let (names, failures) = Self.folder(input)
                    files = names[...]
                    ready = failures[...]
                } else {
                    ready = Self.readFile(input)[...]
                }
            }
        }

        static let maxMessageSize = 50 * 1024 * 1024

        static func readFile(_ path: String) -> [Item] {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                return [.failure(name: path, error: "cannot open file")]
            }
            defer { try? handle.close() }
            do {
                let data = try handle.readToEnd() ?? Data()
                return split(name: path, bytes: [UInt8](data))
            } catch {
                return [.failure(name: path, error: "read failed: \(error.localizedDescription)")]
            }
        }

        /// An mbox file holds one item per message; anything else is one message. A file that
        /// holds one message is named by its path alone, one of several as `PATH#N` (1-based).
        static func split(name: String, bytes: [UInt8]) -> [Item] {
            if Mbox.looksLikeMbox(bytes[...]) {
                let messages = Mbox.split(bytes)
                if messages.count == 1 { return [.message(name: name, bytes: messages[0])] }
                return messages.enumerated().map { .message(name: "\(name)#\($0.offset + 1)", bytes: $0.element) }
            }
            if bytes.count <= 3 && bytes.allSatisfy({ $0 == 0x0A || $0 == 0x0D || $0 == 0x20 }) { return [] }
            return [.message(name: name, bytes: bytes)]
        }

        /// A Maildir folder: the files of `new/` and `cur/` (never `tmp/`), names starting with
        /// `.` skipped, sorted by name. A folder without them is read as a folder of message
        /// files.
        static func folder(_ path: String) -> (files: [String], failures: [Item]) {
            let fm = FileManager.default
            let base = URL(fileURLWithPath: path)
            var dirs: [URL] = []
            for sub in ["new", "cur"] {
                var isDir: ObjCBool = false
                let u = base.appendingPathComponent(sub)
                if fm.fileExists(atPath: u.path, isDirectory: &isDir), isDir.boolValue { dirs.append(u) }
            }
            if dirs.isEmpty { dirs = [base] }
            var files: [String] = []
            var failures: [Item] = []
            for dir in dirs {
                guard let names = try? MaildirReader.listFolder(dir.path) else {
                    failures.append(.failure(name: dir.path, error: "cannot list directory"))
                    continue
                }
                files += names.map { dir.appendingPathComponent($0).path }
            }
            return (files, failures)
        }
    }
}

/// One record of `roundtrip parse` (docs/parse-json.md): keys sorted by the encoder, absent
/// values `null` (never omitted), except `error`, `family` and `reason`.
public struct ParseRecord: Encodable, Sendable {
    public var file: String
    public var report: DeliveryReport?
    public var error: String?

    public init(file: String, report: DeliveryReport) {
        self.file = file
        self.report = report
    }

    public init(file: String, error: String) {
        self.file = file
        self.error = error
    }

    enum Key: String, CodingKey {
        case file, error, kind, family, reason, envelopeId, reportingMTA, recipients, returnedHeaders, envelope
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(file, forKey: .file)
        guard let r = report else {
            try c.encode(error ?? "unknown error", forKey: .error)
            return
        }
        try c.encode(r.kind.name, forKey: .kind)
        switch r.kind {
        case .legacy(let family): try c.encode(family, forKey: .family)
        case .notAReport(let reason): try c.encode(reason.rawValue, forKey: .reason)
        default: break
        }
        try c.encode(r.originalEnvelopeID, forKey: .envelopeId)
        try c.encode(r.reportingMTA?.value, forKey: .reportingMTA)
        try c.encode(r.recipients.map(Recipient.init), forKey: .recipients)
        try c.encode(r.returnedHeaders.map(ReturnedHeaders.init), forKey: .returnedHeaders)
        try c.encode(Envelope(r.envelope), forKey: .envelope)
    }

    /// `recipients[]`.
    struct Recipient: Encodable {
        var recipient: String
        var originalRecipient: String?
        var action: String
        var actionInferred: Bool
        var status: String?
        var statusLiteral: Bool
        var remoteMTA: String?
        var diagnostic: String?

        init(_ rr: RecipientReport) {
            recipient = rr.address
            originalRecipient = rr.originalRecipientDecoded ?? rr.originalRecipient?.value
            action = rr.action.rawValue
            actionInferred = rr.actionInferred
            status = rr.status?.description
            statusLiteral = !rr.statusIsPseudo
            remoteMTA = rr.remoteMTA?.value
            diagnostic = rr.diagnostic
        }

        enum CodingKeys: String, CodingKey {
            case recipient, originalRecipient, action, actionInferred, status, statusLiteral, remoteMTA, diagnostic
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(recipient, forKey: .recipient)
            try c.encode(originalRecipient, forKey: .originalRecipient)
            try c.encode(action, forKey: .action)
            try c.encode(actionInferred, forKey: .actionInferred)
            try c.encode(status, forKey: .status)
            try c.encode(statusLiteral, forKey: .statusLiteral)
            try c.encode(remoteMTA, forKey: .remoteMTA)
            try c.encode(diagnostic, forKey: .diagnostic)
        }
    }

    /// `returnedHeaders`.
    struct ReturnedHeaders: Encodable {
        var source: String
        var messageId: String?
        var subject: String?
        var xRoundtripProbe: String?
        var from: String?
        var to: String?
        var date: String?

        init(_ h: DeliveryReports.ReturnedHeaders) {
            source = h.source.rawValue
            messageId = h.messageID
            subject = h.subject
            xRoundtripProbe = h.roundtripProbe
            from = h.from
            to = h.to
            date = h.date
        }

        enum CodingKeys: String, CodingKey {
            case source, messageId, subject, xRoundtripProbe, from, to, date
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(source, forKey: .source)
            try c.encode(messageId, forKey: .messageId)
            try c.encode(subject, forKey: .subject)
            try c.encode(xRoundtripProbe, forKey: .xRoundtripProbe)
            try c.encode(from, forKey: .from)
            try c.encode(to, forKey: .to)
            try c.encode(date, forKey: .date)
        }
    }

    /// `envelope`.
    struct Envelope: Encodable {
        var to: [String]
        var deliveredTo: [String]
        var xOriginalTo: [String]
        var returnPath: String?

        init(_ e: ReportEnvelope) {
            to = e.to
            deliveredTo = e.deliveredTo
            xOriginalTo = e.xOriginalTo
            returnPath = e.returnPath
        }

        enum CodingKeys: String, CodingKey {
            case to, deliveredTo, xOriginalTo, returnPath
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(to, forKey: .to)
            try c.encode(deliveredTo, forKey: .deliveredTo)
            try c.encode(xOriginalTo, forKey: .xOriginalTo)
            try c.encode(returnPath, forKey: .returnPath)
        }
    }

    /// One line of JSON (keys sorted, slashes unescaped), as `jsonl` prints it.
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else {
            return
                "{\"error\":\"cannot encode\",\"file\":\(String(decoding: (try? encoder.encode(file)) ?? Data("\"?\"".utf8), as: UTF8.self))}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}
