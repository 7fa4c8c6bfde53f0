import Foundation
import MailboxCore

/// Reads a Maildir (D. J. Bernstein's layout with the Courier/Dovecot
/// conventions): scans `new/` and optionally `cur/`, never `tmp/`, skips
/// dot-files, tolerates files that vanish between readdir and open (another
/// reader took them), and marks handled messages by renaming `new/X` to
/// `cur/X:2,S` (rename(2) is atomic within one file system).
public struct MaildirReader: Sendable {
    public var root: String
    public var includeCur: Bool
    /// Messages larger than this are skipped (reported in `skipped`).
    public var maxMessageSize: Int

    public init(root: String, includeCur: Bool = false, maxMessageSize: Int = 50 * 1024 * 1024) {
        self.root = (root as NSString).expandingTildeInPath
        self.includeCur = includeCur
        self.maxMessageSize = maxMessageSize
    }

    /// Checks that `root` looks like a Maildir (new/ and cur/ exist).
    public func validate() throws {
        var isDir: ObjCBool = false
        for sub in ["new", "cur"] {
            let path = (root as NSString).appendingPathComponent(sub)
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
                throw MailboxError(
                    .mailboxUnavailable, step: .select, message: "\(root) is not a Maildir (no \(sub)/ folder)")
            }
        }
    }

    /// The message files of one folder: names sorted, dot-files skipped. The one
    /// listing every Maildir reader uses (poll, the verify feed, parse).
    public static func listFolder(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The folders read: `new/`, and `cur/` when asked; never `tmp/`.
    public var folders: [String] {
        (includeCur ? ["new", "cur"] : ["new"]).map { (root as NSString).appendingPathComponent($0) }
    }

    /// The messages in new/ (and cur/ when asked), oldest first, whose bytes
    /// contain the query's token (all without one) and whose file time is
    /// not before `since`.
    public func scan(_ query: MailboxQuery = MailboxQuery()) throws -> [FetchedMessage] {
        try validate()
        var out: [(Date, FetchedMessage)] = []
        let curDir = (root as NSString).appendingPathComponent("cur")
        for dir in folders {
            let names: [String]
            do { names = try Self.listFolder(dir) } catch {
                throw MailboxError(
                    .mailboxUnavailable, step: .search, message: "cannot read \(dir): \(error.localizedDescription)")
            }
            for name in names {
                let path = (dir as NSString).appendingPathComponent(name)
                guard
                    let (bytes, mtime) = Self.read(
                        path, limit: maxMessageSize, fallbackCurDir: dir == curDir ? nil : curDir, name: name)
                else { continue }
                if let since = query.since, mtime < since { continue }
                guard query.matches(bytes.bytes) else { continue }
                out.append((mtime, FetchedMessage(source: bytes.path, bytes: bytes.bytes)))
            }
        }
        return out.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1.source < $1.1.source) }.map(\.1)
    }

    /// Reads a file; if it vanished from new/, looks for it in cur/ under
    /// `name:2,...` (another reader moved it). nil when it is gone, not a
    /// regular file, or too large.
    static func read(_ path: String, limit: Int, fallbackCurDir: String?, name: String) -> (
        (path: String, bytes: [UInt8]), Date
    )? {
        if let r = readFile(path, limit: limit) { return ((path, r.0), r.1) }
        guard let cur = fallbackCurDir, let names = try? Self.listFolder(cur) else { return nil }
        guard let moved = names.first(where: { $0 == name || $0.hasPrefix(name + ":") }) else { return nil }
        let p = (cur as NSString).appendingPathComponent(moved)
        return readFile(p, limit: limit).map { ((p, $0.0), $0.1) }
    }

    /// A message file's bytes and modification time: never through a symbolic link
    /// (O_NOFOLLOW), only a regular file, at most `limit` octets; nil otherwise or
    /// when it vanished (another reader took it).
    public static func readFile(_ path: String, limit: Int) -> ([UInt8], Date)? {
        // open(2) first, then fstat: the file may vanish at any moment.
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) <= limit else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var got = 0
        while got < bytes.count {
            let n = bytes.withUnsafeMutableBytes { buf -> Int in
                guard let base = buf.baseAddress else { return 0 }
                return Foundation.read(fd, base + got, buf.count - got)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            got += n
        }
        bytes.removeSubrange(got...)
        let mtime = Date(
            timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec) + TimeInterval(st.st_mtim.tv_nsec) / 1e9)
        return (bytes, mtime)
    }

    /// Marks the named messages as handled: `new/X` → `cur/X:2,S`; a message
    /// already in cur/ gets the S flag added (`cur/X:2,FS`). Sources outside
    /// this Maildir, in tmp/, or gone are kept with the reason.
    public func markHandled(sources: [String]) -> CleanupReport {
        var report = CleanupReport(method: .markedSeen)
        let newDir = (root as NSString).appendingPathComponent("new")
        let curDir = (root as NSString).appendingPathComponent("cur")
        for s in sources {
            let dir = (s as NSString).deletingLastPathComponent
            let name = (s as NSString).lastPathComponent
            guard !name.hasPrefix("."), !name.contains("/") else {
                report.kept[s] = "not a message file"
                continue
            }
            let target: String
            if dir == newDir {
                let unique = name.split(separator: ":", maxSplits: 1).first.map(String.init) ?? name
                target = (curDir as NSString).appendingPathComponent(unique + ":2,S")
            } else if dir == curDir {
                guard let r = name.range(of: ":2,") else {
                    target = (curDir as NSString).appendingPathComponent(name + ":2,S")
                    if rename(s, target) == 0 {
                        report.removed.append(s)
                    } else {
                        report.kept[s] = String(cString: strerror(errno))
                    }
                    continue
                }
                var flags = Set(name[r.upperBound...])
                if flags.contains("S") {
                    report.removed.append(s)
                    continue
                }
                flags.insert("S")
                target = (curDir as NSString).appendingPathComponent(
                    String(name[..<r.upperBound]) + String(flags.sorted()))
            } else {
                report.kept[s] = "not in \(root)/new or cur"
                continue
            }
            if rename(s, target) == 0 {
                report.removed.append(s)
            } else {
                report.kept[s] = errno == ENOENT ? "gone (another reader took it)" : String(cString: strerror(errno))
            }
        }
        return report
    }
}
