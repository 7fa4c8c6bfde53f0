import Foundation

/// Watches a Maildir's `new/` (never `tmp/`) and hands over each message
/// once; handled messages move to `cur/` with the `S` flag.
public struct MaildirFeed: ReportFeed {
    public let path: String
    public let interval: Duration

    public init(path: String, interval: Duration = .milliseconds(100)) {
        self.path = path
        self.interval = interval
    }

    public var name: String { "Maildir \(path)" }

    public func run(deliver: @escaping @Sendable (ReceivedMessage) async -> Void) async throws {
        let newDir = path + "/new"
        var seen = Set<String>()
        let fm = FileManager.default
        guard fm.fileExists(atPath: newDir) else {
            throw FeedError(description: "\(path) is not a Maildir (no new/ folder)")
        }
        while !Task.isCancelled {
            let names = ((try? fm.contentsOfDirectory(atPath: newDir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            for name in names where !seen.contains(name) {
                seen.insert(name)
                // The file may have been taken by another reader meanwhile.
                guard let data = fm.contents(atPath: newDir + "/" + name) else { continue }
                await deliver(ReceivedMessage(source: "maildir:\(newDir)/\(name)", bytes: Array(data)))
            }
            try await Task.sleep(for: interval)
        }
    }

    public func markHandled(_ sources: [String]) async {
        let fm = FileManager.default
        for source in sources where source.hasPrefix("maildir:\(path)/new/") {
            let file = String(source.dropFirst("maildir:".count))
            let name = (file as NSString).lastPathComponent
            let base = name.components(separatedBy: ":2,").first ?? name
            try? fm.moveItem(atPath: file, toPath: path + "/cur/" + base + ":2,S")
        }
    }
}

public struct FeedError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(description: String) { self.description = description }
}
