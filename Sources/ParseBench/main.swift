import DeliveryReports
import MailCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Parses every message under the corpus (default ../shared/corpus relative to the working
// directory) N times in one process, on one thread, and prints messages/s, MB/s and peak RSS.
//
//   ParseBench [--repeat N] [PATH...]      PATH: corpus root, Maildir-like folders or files

func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
}

func listFiles(_ root: String, into out: inout [String]) {
    var st = stat()
    guard stat(root, &st) == 0 else { return }
    if (st.st_mode & S_IFMT) != S_IFDIR {
        out.append(root)
        return
    }
    guard let dir = opendir(root) else { return }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name.hasPrefix(".") { continue }
        names.append(name)
    }
    closedir(dir)
    for name in names.sorted() {
        if name == "truth.json" || name == "LICENSE" || name == "README.md" { continue }
        listFiles(root + "/" + name, into: &out)
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// User + system CPU seconds of this process (stable under machine load, unlike wall time).
func cpuSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
        getrusage(RUSAGE_SELF, &usage)
    #endif
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

func peakRSSKiB() -> Int {
    var usage = rusage()
    #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
        getrusage(RUSAGE_SELF, &usage)
    #endif
    return Int(usage.ru_maxrss)
}

var repeatCount = 20
var dump = false
var top = 0
var roots: [String] = []
var args = CommandLine.arguments.dropFirst()
while let a = args.first {
    args = args.dropFirst()
    if a == "--repeat", let n = args.first.flatMap({ Int($0) }) {
        repeatCount = n
        args = args.dropFirst()
    } else if a == "--top", let n = args.first.flatMap({ Int($0) }) {
        top = n
        args = args.dropFirst()
    } else if a == "--dump" {
        dump = true
    } else {
        roots.append(a)
    }
}
if roots.isEmpty { roots = ["../shared/corpus"] }

var files: [String] = []
for r in roots { listFiles(r, into: &files) }

// Load once; mbox files are split (as the CLI does), the split is not timed.
var messages: [[UInt8]] = []
var totalBytes = 0
for path in files {
    guard let bytes = readFile(path) else { continue }
    if Mbox.looksLikeMbox(bytes[...]) {
        for m in Mbox.split(bytes) {
            messages.append(m)
            totalBytes += m.count
        }
    } else if bytes.count > 3 {
        messages.append(bytes)
        totalBytes += bytes.count
    }
}

// --dump: print every result (for checking that an optimisation changes nothing), then exit.
if dump {
    for m in messages {
        do {
            let r = try DeliveryReportParser.parse(m)
            print(String(reflecting: r))
            if let h = r.returnedHeaders {
                print(
                    "  returned:", h.messageID ?? "-", h.subject ?? "-", h.roundtripProbe ?? "-", h.from ?? "-",
                    h.to ?? "-")
            }
            print(
                "  envelope:", r.envelope.to, r.envelope.returnPath ?? "-", r.envelope.from ?? "-",
                r.envelope.subject ?? "-")
        } catch {
            print("error: \(error)")
        }
    }
    exit(0)
}

// --top N: the N messages that take the most time (each parsed `repeat` times), then exit.
if top > 0 {
    var costs: [(Double, Int, String)] = []
    for (k, m) in messages.enumerated() {
        let t0 = cpuSeconds()
        for _ in 0..<repeatCount { _ = try? DeliveryReportParser.parse(m) }
        let kind = (try? DeliveryReportParser.parse(m))?.kind.name ?? "error"
        costs.append(((cpuSeconds() - t0) / Double(repeatCount), k, kind))
    }
    let total = costs.reduce(0) { $0 + $1.0 }
    for (t, k, kind) in costs.sorted(by: { $0.0 > $1.0 }).prefix(top) {
        print(
            String(format: "%8.1f us %5.1f%%  #%d  %d bytes  %@", t * 1e6, t / total * 100, k, messages[k].count, kind))
    }
    exit(0)
}

var recipients = 0
var reports = 0
// Warm-up pass.
for m in messages { _ = try? DeliveryReportParser.parse(m) }
let start = now()
let cpuStart = cpuSeconds()
for _ in 0..<repeatCount {
    for m in messages {
        if let r = try? DeliveryReportParser.parse(m) {
            recipients &+= r.recipients.count
            if r.kind.isReport { reports &+= 1 }
        }
    }
}
let elapsed = now() - start
let cpu = cpuSeconds() - cpuStart
let parsed = Double(messages.count * repeatCount)
let mb = Double(totalBytes * repeatCount) / 1_000_000
print("files: \(files.count), messages: \(messages.count), bytes: \(totalBytes), repeat: \(repeatCount)")
print("reports per pass: \(reports / max(repeatCount, 1)), recipients per pass: \(recipients / max(repeatCount, 1))")
print(String(format: "elapsed: %.3f s wall, %.3f s CPU (one thread)", elapsed, cpu))
print(String(format: "messages/s: %.0f (wall %.0f)", parsed / cpu, parsed / elapsed))
print(String(format: "MB/s: %.1f (wall %.1f)", mb / cpu, mb / elapsed))
print("peak RSS: \(peakRSSKiB() / 1024) MiB")
