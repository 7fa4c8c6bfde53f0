import Foundation

/// Reports a standing listener stored but could not put into the ledger yet
/// (the database was down): they stay in the listener's store, and this
/// queue ingests them again, oldest first, with a backoff from 1 s to 30 s,
/// until the ledger takes them. Only paths and envelopes are held in memory.
public actor DeferredIngest {
    public struct Item: Sendable {
        public var path: String
        public var envelopeRecipients: [String]
        public var receivedAt: Date

        public init(path: String, envelopeRecipients: [String], receivedAt: Date) {
            self.path = path
            self.envelopeRecipients = envelopeRecipients
            self.receivedAt = receivedAt
        }
    }

    let ingest: ReportIngest
    let log: @Sendable (String) -> Void
    private var waiting: [Item] = []
    private var wake: CheckedContinuation<Void, Never>?

    public init(ingest: ReportIngest, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.ingest = ingest
        self.log = log
    }

    public var count: Int { waiting.count }

    /// Ingests the stored message now; keeps it for later when the ledger cannot take it.
    public func receive(_ item: Item) async {
        // While older reports wait, newer ones queue behind them (oldest first).
        guard waiting.isEmpty else {
            waiting.append(item)
            return
        }
        guard let m = Self.message(item) else {
            log("ledger: cannot read the stored report \(item.path)")
            return
        }
        if case .deferred = await ingest.ingest(m) {
            waiting.append(item)
            wake?.resume()
            wake = nil
        }
    }

    static func message(_ item: Item) -> ReceivedMessage? {
        guard let data = FileManager.default.contents(atPath: item.path) else { return nil }
        return ReceivedMessage(
            source: item.path, bytes: Array(data), envelopeRecipients: item.envelopeRecipients,
            receivedAt: item.receivedAt)
    }

    /// Retries until cancelled.
    public func run() async {
        var backoff = 1.0
        while !Task.isCancelled {
            if waiting.isEmpty {
                await withCheckedContinuation { wake = $0 }
                continue
            }
            try? await Task.sleep(for: .milliseconds(Int64(backoff * 1000)))
            if Task.isCancelled { return }
            while let first = waiting.first {
                guard let m = Self.message(first) else {
                    log("ledger: the stored report \(first.path) is gone; dropping it from the retry queue")
                    waiting.removeFirst()
                    continue
                }
                if case .deferred = await ingest.ingest(m) { break }
                waiting.removeFirst()
                backoff = 1
            }
            if !waiting.isEmpty {
                backoff = min(backoff * 2, 30)
                log("ledger: \(waiting.count) report(s) wait for the ledger; next try in \(Int(backoff)) s")
            }
        }
    }

    /// Ends `run()` (call after cancelling its task).
    public func stop() {
        wake?.resume()
        wake = nil
    }
}
