/// Splits an mbox file into messages (RFC 4155).
///
/// A message starts at a `From ` line at the start of the file or after an empty line. The
/// separator line is dropped, as is the empty line before the next separator. Lines matching
/// `^>+From ` lose one `>` (mboxrd unquoting; the variant cannot be detected, so mboxrd is assumed).
/// Empty or 1–3 byte files hold no messages.
public enum Mbox {
    static let fromPrefix: [UInt8] = Array("From ".utf8)

    /// True when the data starts like an mbox file.
    public static func looksLikeMbox(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.count >= 5 && bytes.prefix(5).elementsEqual(fromPrefix)
    }

    public static func split(_ bytes: [UInt8]) -> [[UInt8]] {
        guard bytes.count > 3 else { return [] }
        var messages: [[UInt8]] = []
        bytes.withUnsafeBufferPointer { buf in
            let n = buf.count
            var i = 0
            var current: [UInt8]? = nil
            var previousLineEmpty = true
            var pendingEmpty: [UInt8] = []  // an empty line that may be the separator gap
            while i < n {
                let line = ByteScan.line(in: buf, from: i, limit: n)
                let len = line.end - line.start
                let raw = UnsafeBufferPointer(rebasing: buf[line.start..<line.next])
                if previousLineEmpty && len >= 5 && matchesFrom(buf, at: line.start) {
                    if let c = current { messages.append(c) }
                    current = []
                    pendingEmpty.removeAll()
                    previousLineEmpty = false
                    i = line.next
                    continue
                }
                if current != nil {
                    if len == 0 {
                        current?.append(contentsOf: pendingEmpty)
                        pendingEmpty = Array(raw)
                    } else {
                        current?.append(contentsOf: pendingEmpty)
                        pendingEmpty.removeAll()
                        // mboxrd: ">From ", ">>From " lose one ">".
                        var k = line.start
                        while k < line.end && buf[k] == ASCII.greater { k += 1 }
                        if k > line.start && matchesFrom(buf, at: k) {
                            current?.append(
                                contentsOf: UnsafeBufferPointer(rebasing: buf[(line.start + 1)..<line.next]))
                        } else {
                            current?.append(contentsOf: raw)
                        }
                    }
                }
                previousLineEmpty = len == 0
                i = line.next
            }
            if let c = current { messages.append(c) }
        }
        return messages
    }

    static func matchesFrom(_ buf: UnsafeBufferPointer<UInt8>, at k: Int) -> Bool {
        guard k + 5 <= buf.count else { return false }
        return buf[k] == 0x46 && buf[k + 1] == 0x72 && buf[k + 2] == 0x6F && buf[k + 3] == 0x6D && buf[k + 4] == 0x20
    }
}
