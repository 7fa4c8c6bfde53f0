import Foundation
import MailCore
import NIOConcurrencyHelpers
import NIOCore
import SMTPCore

#if canImport(Glibc)
    import Glibc
#endif

/// The envelope of a received message, stored inside it: the stored file's first header field
/// is `X-Roundtrip-Envelope:` with the envelope as JSON (folded between JSON tokens), written
/// by the listener before any octet of the peer's (`init(storedMessage:)` reads it back).
public struct ReceivedEnvelope: Codable, Sendable, Hashable {
    public struct Recipient: Codable, Sendable, Hashable {
        /// `local@domain`, or `Postmaster`.
        public var address: String
        /// `NOTIFY` as given (`SUCCESS,FAILURE`, `NEVER`), if any.
        public var notify: String?
        /// `ORCPT` as `type;address` (decoded), if any.
        public var originalRecipient: String?
    }

    /// The reverse path without brackets; empty for the null sender `<>`.
    public var mailFrom: String
    public var rcptTo: [String]
    public var recipients: [Recipient]
    /// `ENVID`, xtext-decoded, if the client sent one.
    public var envelopeID: String?
    public var ret: String?
    public var body: String?
    public var smtpUTF8: Bool
    /// The client's IP address and port.
    public var clientAddress: String
    public var clientPort: Int?
    public var heloName: String
    /// `SMTP`, `ESMTP`, `ESMTPS`.
    public var protocolName: String
    public var tlsVersion: String?
    public var tlsCipher: String?
    public var receivedAt: Date
    /// Octets of the message as received (without the added headers).
    public var messageSize: Int

    public init(
        envelope: SMTPEnvelope, clientAddress: String, clientPort: Int?, tlsVersion: String?, tlsCipher: String?,
        receivedAt: Date, messageSize: Int
    ) {
        switch envelope.reversePath {
        case .null: self.mailFrom = ""
        case .mailbox(let m): self.mailFrom = m.description
        }
        self.rcptTo = envelope.recipients.map(\.path.address)
        self.recipients = envelope.recipients.map {
            Recipient(
                address: $0.path.address, notify: $0.parameters.notify?.description,
                originalRecipient: $0.parameters.originalRecipient.map { "\($0.addressType);\($0.address)" }
            )
        }
        self.envelopeID = envelope.mailParameters.envelopeID?.value
        self.ret = envelope.mailParameters.ret?.rawValue
        self.body = envelope.mailParameters.body?.rawValue
        self.smtpUTF8 = envelope.mailParameters.smtpUTF8
        self.clientAddress = clientAddress
        self.clientPort = clientPort
        self.heloName = envelope.heloName
        self.protocolName = envelope.protocolName
        self.tlsVersion = tlsVersion
        self.tlsCipher = tlsCipher
        self.receivedAt = receivedAt
        self.messageSize = messageSize
    }
}

extension ReceivedEnvelope {
    static let headerName = Array("X-Roundtrip-Envelope:".utf8)

    /// The `X-Roundtrip-Envelope:` field: the envelope as compact JSON (keys sorted, dates in
    /// ISO 8601), folded after a `,` outside strings once a line passes 72 octets (unfolding
    /// leaves a tab between JSON tokens, which JSON allows).
    func headerField() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = try encoder.encode(self)
        var out = Self.headerName + [UInt8(ascii: " ")]
        out.reserveCapacity(json.count + json.count / 32 + 32)
        var line = out.count
        var inString = false
        var escaped = false
        for b in json {
            out.append(b)
            line += 1
            if inString {
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if b == UInt8(ascii: "\"") {
                inString = true
            } else if b == UInt8(ascii: ","), line > 72 {
                out += [0x0D, 0x0A, 0x09]
                line = 1
            }
        }
        out += [0x0D, 0x0A]
        return out
    }

    /// The envelope the listener wrote at the start of a stored message; nil when the file does
    /// not start with it (a field of the same name further down came from the peer and is never
    /// read).
    public init?(storedMessage bytes: some Collection<UInt8>) {
        var rest = bytes[...]
        guard rest.starts(with: Self.headerName) else { return nil }
        rest = rest.dropFirst(Self.headerName.count)
        var json: [UInt8] = []
        while let b = rest.first {
            rest = rest.dropFirst()
            if b == 0x0A {
                // Unfold: the field goes on while the next line starts with white space.
                guard let next = rest.first, next == 0x20 || next == 0x09 else { break }
                continue
            }
            if b != 0x0D { json.append(b) }
            if json.count > 1 << 20 { return nil }
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let e = try? decoder.decode(ReceivedEnvelope.self, from: Data(json)) else { return nil }
        self = e
    }
}

/// A message that is on disk, durably, in `STORE/new/`, its envelope inside it.
public struct StoredMessage: Sendable, Hashable {
    /// The Maildir unique name (also the queue id in the `250` reply).
    public var name: String
    public var path: String
    public var envelope: ReceivedEnvelope
}

/// Storage failures (unwritable directory, full disk, fsync error).
public struct MessageStoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A Maildir-style durable spool: `STORE/{tmp,new,cur}`.
///
/// Each message is written to `tmp/` with the envelope and the trace fields in front
/// (`X-Roundtrip-Envelope`, `Return-Path`, `Delivered-To`, `Received`), made durable, renamed
/// into `new/`, and `new/` is fsync'ed, all before the caller's promise completes, so `250` is
/// only ever sent for a message that survives a crash. One file create, one rename and a share
/// of one directory fsync per message (plus one fdatasync with `SyncMode.file`).
///
/// **Group commit.** One writer thread takes every pending message, waits up
/// to `batchWindow` (or until no more arrive for `idleGap`) for others, then
/// writes the whole batch, starts the writeback of every file at once, makes
/// the files durable (see `SyncMode`), renames them and fsyncs `new/`
/// once per batch before completing all the promises. Concurrent sessions
/// therefore share the expensive journal commits, device cache flushes and
/// directory syncs instead of queueing behind each other's.
public final class MessageStore: Sendable {
    /// How the files of a batch are made durable before the renames.
    public enum SyncMode: String, Sendable, Hashable, CaseIterable {
        /// `fdatasync` every message file (after starting the
        /// writeback of the whole batch). Durable on every filesystem; costs
        /// at least one device cache flush per file.
        case file
        /// Write every file out and wait for it (`sync_file_range`), then let
        /// the one directory fsync per batch commit the filesystem journal
        /// (and flush the device cache) for all of them at once — git's
        /// `core.fsyncMethod=batch`. Durable on journalling filesystems that
        /// commit all pending metadata on fsync (ext4, XFS); not on btrfs.
        case batch
        /// `batch` where it is durable (the store is on ext4 or XFS, by
        /// `statfs(2)`), `file` everywhere else.
        case auto

        /// What `auto` means for a store in `directory`.
        public static func suited(for directory: String) -> SyncMode {
            #if os(Linux)
                // statfs(2), which Glibc's Swift module does not export: `f_type` is the first
                // field (a long) of `struct statfs` on every Linux ABI; 512 octets hold it all.
                typealias StatFS = @convention(c) (UnsafePointer<CChar>, UnsafeMutableRawPointer) -> Int32
                guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "statfs") else { return .file }
                let call = unsafeBitCast(symbol, to: StatFS.self)
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 16)
                defer { buffer.deallocate() }
                guard call(directory, buffer) == 0 else { return .file }
                let type = buffer.load(as: Int.self)
                // EXT4_SUPER_MAGIC (also ext2/ext3), XFS_SUPER_MAGIC.
                return [0xEF53, 0x5846_5342].contains(type) ? .batch : .file
            #else
                return .file
            #endif
        }
    }

    public let directory: String
    public let syncMode: SyncMode
    public let hostname: String
    let batchWindow: Duration
    let idleGap: Duration
    private let queue: WorkQueue
    private let syncQueue = SyncQueue()
    private let counter = NIOLockedValueBox<UInt64>(0)

    final class WorkQueue: @unchecked Sendable {
        let condition = NSCondition()
        // Guarded by `condition`.
        var jobs: [Job] = []
        var stopping = false
        var started = false
        var stopped = false
    }

    /// Renamed batches waiting for their directory sync (the second stage).
    final class SyncQueue: @unchecked Sendable {
        let condition = NSCondition()
        // Guarded by `condition`.
        var batches: [[Pending]] = []
        var writerDone = false
    }

    struct Job: Sendable {
        let message: [UInt8]
        let envelope: ReceivedEnvelope
        let promise: EventLoopPromise<StoredMessage>
    }

    /// Creates the directories if needed and checks that they are writable.
    public init(
        directory: String, hostname: String, syncMode: SyncMode = .file, batchWindow: Duration = .milliseconds(1),
        idleGap: Duration = .microseconds(200)
    ) throws {
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        self.hostname = hostname
        self.batchWindow = batchWindow
        self.idleGap = idleGap
        self.queue = WorkQueue()
        let fm = FileManager.default
        for sub in ["", "/tmp", "/new", "/cur"] {
            let path = self.directory + sub
            do {
                try fm.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            } catch {
                throw MessageStoreError("cannot create \(path): \(error.localizedDescription)")
            }
        }
        self.syncMode = syncMode == .auto ? .suited(for: self.directory) : syncMode
        // Prove we can write, fsync and rename here.
        let probe = self.directory + "/tmp/.probe-\(getpid())"
        let fd = open(probe, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw MessageStoreError("store \(self.directory) is not writable: \(String(cString: strerror(errno)))")
        }
        let ok = fsync(fd) == 0
        close(fd)
        unlink(probe)
        guard ok else {
            throw MessageStoreError("store \(self.directory): fsync failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Bytes free to unprivileged writers on the store's filesystem
    /// (`statvfs(3)`: `f_bavail * f_frsize`); nil when it cannot be read.
    public func freeBytes() -> UInt64? {
        var st = statvfs()
        guard statvfs(directory, &st) == 0 else { return nil }
        return UInt64(st.f_bavail) &* UInt64(st.f_frsize)
    }

    /// Starts the writer thread (idempotent).
    public func start() {
        queue.condition.lock()
        defer { queue.condition.unlock() }
        guard !queue.started else { return }
        queue.started = true
        let thread = Thread { [self] in self.writerLoop() }
        thread.name = "roundtrip-store"
        thread.start()
        let syncer = Thread { [self] in self.syncerLoop() }
        syncer.name = "roundtrip-store-sync"
        syncer.start()
    }

    /// Lets the writer finish the pending batch and exit. Jobs enqueued later
    /// fail.
    public func stop() {
        queue.condition.lock()
        queue.stopping = true
        queue.condition.broadcast()
        queue.condition.unlock()
    }

    /// Queues a message; the promise succeeds once it is durable.
    public func store(_ message: [UInt8], envelope: ReceivedEnvelope, promise: EventLoopPromise<StoredMessage>) {
        queue.condition.lock()
        if queue.stopping || !queue.started {
            queue.condition.unlock()
            promise.fail(MessageStoreError("the store is not running"))
            return
        }
        queue.jobs.append(Job(message: message, envelope: envelope, promise: promise))
        queue.condition.signal()
        queue.condition.unlock()
    }

    /// Async form (tests, tools).
    public func store(_ message: [UInt8], envelope: ReceivedEnvelope, on eventLoop: any EventLoop) async throws
        -> StoredMessage
    {
        let promise = eventLoop.makePromise(of: StoredMessage.self)
        store(message, envelope: envelope, promise: promise)
        return try await promise.futureResult.get()
    }

    // MARK: writer thread

    private func writerLoop() {
        let c = queue.condition
        while true {
            c.lock()
            while queue.jobs.isEmpty && !queue.stopping { c.wait() }
            if queue.jobs.isEmpty && queue.stopping {
                queue.stopped = true
                c.unlock()
                syncQueue.condition.lock()
                syncQueue.writerDone = true
                syncQueue.condition.signal()
                syncQueue.condition.unlock()
                return
            }
            var batch = queue.jobs
            queue.jobs.removeAll(keepingCapacity: true)
            // Collect for up to `batchWindow`, or until nobody else arrives
            // within `idleGap`.
            let windowEnd = Date().addingTimeInterval(Self.seconds(batchWindow))
            while !queue.stopping {
                let now = Date()
                guard now < windowEnd else { break }
                let until = min(windowEnd, now.addingTimeInterval(Self.seconds(idleGap)))
                let signalled = c.wait(until: until)
                if !queue.jobs.isEmpty {
                    batch.append(contentsOf: queue.jobs)
                    queue.jobs.removeAll(keepingCapacity: true)
                }
                if !signalled { break }
            }
            c.unlock()
            commit(batch)
        }
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        let (s, atto) = d.components
        return TimeInterval(s) + TimeInterval(atto) / 1e18
    }

    struct Pending: Sendable {
        let job: Job
        let name: String
        let messageFD: Int32
        let envelope: ReceivedEnvelope
    }

    private func commit(_ batch: [Job]) {
        var pending: [Pending] = []
        pending.reserveCapacity(batch.count)
        // 1. Write every file of the batch and start its writeback.
        for job in batch {
            let name = uniqueName()
            do {
                let header = try job.envelope.headerField() + receivedHeader(job.envelope, name: name)
                let fd = try Self.writeFile(directory + "/tmp/" + name, bytes: header, job.message)
                pending.append(Pending(job: job, name: name, messageFD: fd, envelope: job.envelope))
            } catch {
                job.promise.fail(error)
            }
        }
        // 2. Make each file's data durable.
        let writeback = SyncFileRange.function
        for p in pending { _ = writeback?(p.messageFD, 0, 0, SyncFileRange.write) }
        var durable: [Pending] = []
        for p in pending {
            let ok: Bool
            if syncMode == .batch, let writeback {
                ok = writeback(p.messageFD, 0, 0, SyncFileRange.waitAll) == 0
            } else {
                ok = fdatasync(p.messageFD) == 0
            }
            let err = errno
            close(p.messageFD)
            if ok {
                durable.append(p)
            } else {
                unlink(directory + "/tmp/" + p.name)
                p.job.promise.fail(MessageStoreError("fsync failed: \(String(cString: strerror(err)))"))
            }
        }
        // 3. Into new/.
        var delivered: [Pending] = []
        for p in durable {
            if rename(directory + "/tmp/" + p.name, directory + "/new/" + p.name) == 0 {
                delivered.append(p)
            } else {
                let err = errno
                unlink(directory + "/tmp/" + p.name)
                p.job.promise.fail(MessageStoreError("rename failed: \(String(cString: strerror(err)))"))
            }
        }
        // 4. The directory sync and the answers happen on the second stage,
        // so the next batch is written while this one is being committed
        // (and batches that pile up there share one sync).
        guard !delivered.isEmpty else { return }
        syncQueue.condition.lock()
        syncQueue.batches.append(delivered)
        syncQueue.condition.signal()
        syncQueue.condition.unlock()
    }

    private func syncerLoop() {
        let c = syncQueue.condition
        while true {
            c.lock()
            while syncQueue.batches.isEmpty && !syncQueue.writerDone { c.wait() }
            if syncQueue.batches.isEmpty && syncQueue.writerDone {
                c.unlock()
                return
            }
            let delivered = syncQueue.batches.flatMap { $0 }
            syncQueue.batches.removeAll(keepingCapacity: true)
            c.unlock()
            let error = Self.syncDirectory(directory + "/new")
            for p in delivered {
                if let error {
                    p.job.promise.fail(error)
                } else {
                    p.job.promise.succeed(
                        StoredMessage(
                            name: p.name, path: directory + "/new/" + p.name, envelope: p.envelope
                        )
                    )
                }
            }
        }
    }

    /// `time.MusecPpidQn.host` (Maildir unique name).
    private func uniqueName() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        let n = counter.withLockedValue { value -> UInt64 in
            value += 1
            return value
        }
        let host = hostname.replacingOccurrences(of: "/", with: "\\057").replacingOccurrences(of: ":", with: "\\072")
        return "\(tv.tv_sec).M\(tv.tv_usec)P\(getpid())Q\(n).\(host)"
    }

    /// `Return-Path`, `Delivered-To` and `Received:` prepended to the message.
    func receivedHeader(_ e: ReceivedEnvelope, name: String) -> [UInt8] {
        var h = "Return-Path: <\(e.mailFrom)>\r\n"
        for r in e.rcptTo { h += "Delivered-To: \(r)\r\n" }
        let tls = e.tlsVersion.map { " (\($0)" + (e.tlsCipher.map { " with cipher \($0)" } ?? "") + ")" } ?? ""
        h += "Received: from \(e.heloName.isEmpty ? "unknown" : e.heloName) ([\(e.clientAddress)])\r\n"
        h += "\tby \(hostname) (roundtrip listen) with \(e.protocolName)\(tls)\r\n"
        h +=
            "\tid \(name)" + (e.rcptTo.count == 1 ? "\r\n\tfor <\(e.rcptTo[0])>" : "")
            + "; \(Self.rfc5322Date(e.receivedAt))\r\n"
        return Array(h.utf8)
    }

    static func rfc5322Date(_ date: Date) -> String {
        MessageDate(date).rfc5322
    }

    static func writeFile(_ path: String, bytes: [UInt8]...) throws -> Int32 {
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw MessageStoreError("cannot create \(path): \(String(cString: strerror(errno)))") }
        for chunk in bytes {
            var offset = 0
            while offset < chunk.count {
                let n = chunk.withUnsafeBytes { raw in
                    write(fd, raw.baseAddress.map { $0 + offset }, chunk.count - offset)
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    let err = errno
                    close(fd)
                    unlink(path)
                    throw MessageStoreError("cannot write \(path): \(String(cString: strerror(err)))")
                }
                offset += n
            }
        }
        return fd
    }

    /// `sync_file_range(2)`, which Glibc's Swift module does not export.
    enum SyncFileRange {
        typealias Function = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
        /// SYNC_FILE_RANGE_WRITE: start writeback.
        static let write: UInt32 = 2
        /// WAIT_BEFORE | WRITE | WAIT_AFTER: write out and wait for it.
        static let waitAll: UInt32 = 7
        static let function: Function? = {
            #if os(Linux)
                guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range") else { return nil }
                return unsafeBitCast(symbol, to: Function.self)
            #else
                return nil
            #endif
        }()
    }

    static func syncDirectory(_ path: String) -> MessageStoreError? {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return MessageStoreError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else {
            return MessageStoreError("fsync \(path) failed: \(String(cString: strerror(errno)))")
        }
        return nil
    }
}
