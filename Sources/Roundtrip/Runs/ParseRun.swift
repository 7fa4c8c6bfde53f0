import DeliveryReports
import Foundation
import MailCore
import MailTransport
import NIOConcurrencyHelpers
import RoundtripCore

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
        var inputs: Inputs

        init(inputs: ArraySlice<String>, standardInput: @escaping @Sendable () -> [UInt8]) {
            self.inputs = Inputs(inputs: inputs, standardInput: standardInput)
        }

        public mutating func next() -> ParseRecord? { inputs.next().map(ParseRun.record) }
    }

    /// A message read, or an input that could not be read.
    enum Item: Sendable {
        case message(name: String, bytes: [UInt8])
        case failure(name: String, error: String)

        var size: Int {
            if case .message(_, let bytes) = self { return bytes.count }
            return 0
        }
    }

    static func record(_ item: Item) -> ParseRecord {
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

    /// The inputs' messages, one file read at a time as they are taken.
    struct Inputs: IteratorProtocol {
        var inputs: ArraySlice<String>
        let standardInput: @Sendable () -> [UInt8]
        /// The files of a folder still to read.
        var files: ArraySlice<String> = []
        /// The messages of one file still to hand out, or the failure to read it.
        var ready: ArraySlice<Item> = []
        /// The folder whose entries are being read: how many were files, how many folders.
        var currentFolder: (name: String, files: Int, subfolders: Int)?

        mutating func next() -> Item? {
            while true {
                if let item = ready.popFirst() { return item }
                if let file = files.popFirst() {
                    // A folder's files are read as a Maildir's: never through a link, size capped.
                    if let (bytes, _) = MaildirReader.readFile(file, limit: Self.maxMessageSize) {
                        currentFolder?.files += 1
                        ready = Self.split(name: file, bytes: bytes)[...]
                        continue
                    }
                    // Vanished between listing and reading (another reader moved it), or a
                    // folder inside the folder: skipped quietly.
                    var st = stat()
                    guard lstat(file, &st) == 0 else { continue }
                    guard (st.st_mode & S_IFMT) != S_IFDIR else {
                        currentFolder?.subfolders += 1
                        continue
                    }
                    currentFolder?.files += 1
                    ready = [
                        .failure(
                            name: file,
                            error: "not read: a link, not a regular file, or larger than \(Self.maxMessageSize) octets")
                    ]
                    continue
                }
                // A folder that holds only folders is a mistake in the command line, not an empty
                // mailbox: say so rather than print nothing and succeed.
                if let f = currentFolder {
                    currentFolder = nil
                    if f.files == 0 && f.subfolders > 0 {
                        ready = [
                            .failure(
                                name: f.name,
                                error:
                                    "holds \(f.subfolders) folder(s) and no message file; name the folders themselves")
                        ]
                        continue
                    }
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
                    currentFolder = (input, 0, 0)
                } else {
                    ready = Self.readFile(input)[...]
                }
            }
        }

        static let maxMessageSize = 50 * 1024 * 1024

        /// A file named on the command line: followed if it is a link (the user named it), any size
        /// up to the cap.
        static func readFile(_ path: String) -> [Item] {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return [.failure(name: path, error: "cannot open file: \(errnoText())")] }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                return [.failure(name: path, error: "not a regular file")]
            }
            guard Int(st.st_size) <= maxMessageSize * 64 else {
                return [.failure(name: path, error: "larger than \(maxMessageSize * 64) octets")]
            }
            var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
            var got = 0
            while got < bytes.count {
                let n = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + got, $0.count - got) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { return [.failure(name: path, error: "read failed: \(errnoText())")] }
                if n == 0 { break }
                got += n
            }
            bytes.removeSubrange(got...)
            return split(name: path, bytes: bytes)
        }

        static func errnoText() -> String { String(cString: strerror(errno)) }

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

extension ParseRun {
    public enum Format: String, CaseIterable, Sendable {
        case text, json, jsonl
    }

    /// Messages taken from the inputs at a time: the most held in memory, with their output.
    static let batchMessages = 512
    static let batchOctets = 32 * 1024 * 1024

    /// Parses and renders every message in input order, `workers` messages at a time, and
    /// hands the output to `write` in chunks of about 64 KiB. Reading stays on the calling
    /// thread; memory is bounded by one batch (512 messages or 32 MiB of input), whatever the
    /// number of inputs. Returns false when an input could not be read.
    public func render(
        _ format: Format, workers: Int = ProcessInfo.processInfo.activeProcessorCount,
        write: ([UInt8]) -> Void
    ) -> Bool {
        var items = Inputs(inputs: inputs[...], standardInput: standardInput)
        var out: [UInt8] = []
        out.reserveCapacity(128 * 1024)
        var allRead = true
        var count = 0
        if format == .json { out.append(UInt8(ascii: "[")) }
        while true {
            var batch: [Item] = []
            var octets = 0
            while batch.count < Self.batchMessages, octets < Self.batchOctets, let item = items.next() {
                octets += item.size
                batch.append(item)
            }
            if batch.isEmpty { break }
            let rendered = Self.render(batch, format, workers: Swift.max(1, workers))
            for (failed, bytes) in rendered {
                if failed { allRead = false }
                switch format {
                case .text:
                    out.append(contentsOf: bytes)
                case .jsonl:
                    out.append(contentsOf: bytes)
                    out.append(UInt8(ascii: "\n"))
                case .json:
                    // One array, a record per line.
                    out.append(contentsOf: (count == 0 ? "\n  " : ",\n  ").utf8)
                    out.append(contentsOf: bytes)
                }
                count += 1
                if out.count >= 64 * 1024 {
                    write(out)
                    out.removeAll(keepingCapacity: true)
                }
            }
        }
        if format == .json { out.append(contentsOf: Array("\n]\n".utf8)) }
        if !out.isEmpty { write(out) }
        return allRead
    }

    /// One batch, parsed and rendered on `workers` threads; the results in the batch's order
    /// (true: the record is an error).
    static func render(_ batch: [Item], _ format: Format, workers: Int) -> [(Bool, [UInt8])] {
        let results = UnsafeMutableBufferPointer<(Bool, [UInt8])>.allocate(capacity: batch.count)
        results.initialize(repeating: (false, []))
        defer { results.deinitialize().deallocate() }
        let next = NIOLockedValueBox(0)
        let slots = ResultSlots(results)
        DispatchQueue.concurrentPerform(iterations: Swift.min(workers, batch.count)) { _ in
            while true {
                // Small claims keep both cores busy to the end of a batch of uneven messages.
                let start = next.withLockedValue { claimed -> Int in
                    claimed += 8
                    return claimed - 8
                }
                if start >= batch.count { return }
                for i in start..<Swift.min(start + 8, batch.count) {
                    let record = record(batch[i])
                    let bytes: [UInt8]
                    switch format {
                    case .text:
                        bytes = Array(record.text().utf8)
                    case .json, .jsonl:
                        var json = JSONBytes(reservingCapacity: 1024)
                        record.json(into: &json)
                        bytes = json.bytes
                    }
                    slots.set(i, (record.error != nil, bytes))
                }
            }
        }
        return Array(results)
    }
}

/// Each worker writes only the slots it claimed, so no two threads touch one slot.
private struct ResultSlots: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<(Bool, [UInt8])>
    init(_ buffer: UnsafeMutableBufferPointer<(Bool, [UInt8])>) { self.buffer = buffer }
    func set(_ i: Int, _ value: (Bool, [UInt8])) { buffer[i] = value }
}
