import Foundation
import Roundtrip
import SMTPCore

/// A fixed clock: whole seconds, which the ledger stores exactly (ms precision).
let t0 = Date(timeIntervalSince1970: 1_800_000_000)

func at(_ seconds: TimeInterval) -> Date { t0.addingTimeInterval(seconds) }

/// 35 base32 characters, like a real token (the ledger does not check the HMAC).
func token(_ n: Int) -> String {
    let digits = String(n)
    return String(repeating: "a", count: 35 - digits.count).appending(
        String(
            digits.map { c -> Character in ["2", "3", "4", "5", "6", "7", "b", "c", "d", "e"][Int(String(c)) ?? 0] })
    )
}

func newProbe(
    _ n: Int, recipients: [String] = ["alice@example.net"], created: TimeInterval = 0,
    deadline: TimeInterval = 600
) -> NewProbe {
    let t = token(n)
    return NewProbe(
        token: t, createdAt: at(created), deadline: at(deadline), returnPath: "roundtrip+\(t)@return.example",
        envelopeID: t, messageID: "\(t)@return.example", subject: "roundtrip probe \(t)", recipients: recipients
    )
}

func report(
    _ text: String, source: String = "listener", received: TimeInterval = 5,
    kind: ReportKind = .report, storage: NewReport.Storage = .inline
) -> NewReport {
    NewReport(
        receivedAt: at(received), source: source, raw: Array(text.utf8), storage: storage,
        parsed: #"{"action":"delivered"}"#, kind: kind)
}

let ok250 = SMTPReply(code: 250, lines: ["2.1.5 Ok"])
let refused550 = SMTPReply(code: 550, lines: ["5.1.1 <bob@example.net>: Recipient address rejected: User unknown"])

/// The ledger error `body` throws, or nil.
func ledgerError(_ body: () async throws -> Void) async -> LedgerError? {
    do {
        try await body()
        return nil
    } catch let error as LedgerError {
        return error
    } catch {
        return nil
    }
}

/// Runs `body` with a fresh directory under the system temporary directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("roundtrip-ledger-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func posixMode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
