import Crypto
import Foundation
import MailCore

/// One hop of the arrived probe's `Received:` chain.
public struct ArrivalHop: Sendable, Hashable, Codable {
    public var from: String?
    public var by: String?
    /// `ESMTP`, `ESMTPS`, `LMTP`, ...
    public var with: String?
    /// `ESMTPS`/`ESMTPSA` or a TLS note in the field.
    public var tls: Bool
    public var at: Date?

    public init(_ r: ReceivedField) {
        from = r.from
        by = r.by
        with = r.with
        tls = r.tls
        at = r.date.map { Date(timeIntervalSince1970: Double($0.secondsSince1970)) }
    }
}

/// The probe found in a recipient's mailbox (`verify --arrival`): where it
/// landed, when, and what the receiving side's authentication said. Like a
/// report it is evidence about one probe recipient and goes through
/// `VerdictRules` (docs/architecture.md §4).
public struct ArrivalEvidence: Sendable, Hashable, Codable {
    /// The probe's recipient, as submitted.
    public var address: String
    /// The mailbox URL it was found in (no password) and the folder.
    public var mailbox: String
    public var folder: String
    /// Found in the Junk folder (`\Junk` special-use or `--arrival-junk`).
    public var junk: Bool
    /// The topmost (last added) `Received:` timestamp.
    public var receivedAt: Date?
    /// The server's INTERNALDATE.
    public var internalDate: Date?
    /// When this run saw it.
    public var observedAt: Date
    /// The trusted receiver's `Authentication-Results`, nil when it added none.
    public var authentication: AuthenticationSummary?
    /// The `Received:` chain, last hop first.
    public var hops: [ArrivalHop]
    /// Where the probe token was found with a valid HMAC: `X-Roundtrip-Probe` and/or `Message-ID`.
    public var tokenIn: [String]
    /// The message's source, for `--cleanup`.
    public var source: String

    public init(
        address: String, mailbox: String, folder: String, junk: Bool, receivedAt: Date? = nil,
        internalDate: Date? = nil, observedAt: Date, authentication: AuthenticationSummary? = nil,
        hops: [ArrivalHop] = [], tokenIn: [String] = ["X-Roundtrip-Probe"], source: String
    ) {
        self.address = address
        self.mailbox = mailbox
        self.folder = folder
        self.junk = junk
        self.receivedAt = receivedAt
        self.internalDate = internalDate
        self.observedAt = observedAt
        self.authentication = authentication
        self.hops = hops
        self.tokenIn = tokenIn
        self.source = source
    }

    /// Where the mailbox placed the probe and how it was judged, as
    /// warnings: Junk placement, `dkim=fail`, `dmarc=fail`. Each counts as a
    /// partial result (a failure with `--strict`).
    public var concerns: [String] {
        var out: [String] = []
        if junk { out.append("arrived in the Junk folder \(folder.debugDescription)") }
        if let a = authentication {
            for d in a.dkim where d.result == "fail" {
                out.append("dkim=fail\(d.domain.map { " header.d=\($0)" } ?? "") (by \(a.authservID))")
            }
            if a.dmarc == "fail" { out.append("dmarc=fail (by \(a.authservID))") }
        }
        return out
    }

    /// The arrival time: the topmost `Received:` timestamp, else INTERNALDATE, else when seen.
    public var arrivedAt: Date { receivedAt ?? internalDate ?? observedAt }

    /// The probe in `bytes`, found in `folder` of `mailbox`, if it carries
    /// `token` with a valid HMAC in `X-Roundtrip-Probe` or `Message-ID`
    /// (the mailbox's search only narrows; this decides). The recipient is
    /// the one named by `Delivered-To`/`X-Original-To`, else the mailbox's
    /// user when it is a recipient, else the single recipient. nil when it is
    /// not our probe or names none of `recipients`.
    public static func from(
        _ bytes: [UInt8], token: ProbeToken, key: SymmetricKey, recipients: [String], mailbox: String,
        mailboxUser: String?, folder: String, junk: Bool, internalDate: Date?, source: String,
        trustedAuthservID: String?, observedAt: Date
    ) -> ArrivalEvidence? {
        let (header, _) = HeaderSection.parse(bytes.prefix(512 * 1024))
        var tokenIn: [String] = []
        if let v = header.value("X-Roundtrip-Probe"), isOurs(v.trimmed, token: token, key: key) {
            tokenIn.append("X-Roundtrip-Probe")
        }
        if let v = header.value("Message-ID") {
            let id = v.trimmed.trimmingPrefix("<")
            if let at = id.firstIndex(of: "@"), isOurs(id[..<at], token: token, key: key) {
                tokenIn.append("Message-ID")
            }
        }
        guard !tokenIn.isEmpty else { return nil }
        var byAddress: [String: String] = [:]
        for r in recipients where byAddress[r.lowercased()] == nil { byAddress[r.lowercased()] = r }
        let named = (header.all("Delivered-To") + header.all("X-Original-To")).map { $0.value.trimmed }
        let address =
            named.lazy.compactMap { byAddress[$0.trimmingPrefix("<").trimmingSuffix(">").lowercased()] }.first
            ?? mailboxUser.flatMap { byAddress[$0.lowercased()] }
            ?? (recipients.count == 1 ? recipients[0] : nil)
        guard let address else { return nil }
        let received = ReceivedField.chain(header.all("Received").map(\.value))
        let auth = AuthenticationSummary.from(
            header.all("Authentication-Results").prefix(50).map(\.value), trusted: trustedAuthservID)
        return ArrivalEvidence(
            address: address, mailbox: mailbox, folder: folder, junk: junk,
            receivedAt: received.first?.date.map { Date(timeIntervalSince1970: Double($0.secondsSince1970)) },
            internalDate: internalDate, observedAt: observedAt, authentication: auth,
            hops: received.map(ArrivalHop.init), tokenIn: tokenIn, source: source)
    }

    private static func isOurs(_ text: some StringProtocol, token: ProbeToken, key: SymmetricKey) -> Bool {
        guard case .valid(let t) = ProbeToken.validate(text, key: key) else { return false }
        return t == token
    }
}

extension String {
    fileprivate var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }

    fileprivate func trimmingPrefix(_ p: String) -> String { hasPrefix(p) ? String(dropFirst(p.count)) : self }
    fileprivate func trimmingSuffix(_ p: String) -> String { hasSuffix(p) ? String(dropLast(p.count)) : self }
}
