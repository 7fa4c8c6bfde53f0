import MailCore

/// One recipient is one record (RFC 3464 §2.3: a per-recipient group describes one recipient).
///
/// When a report names a recipient twice (two groups, or a group and the human-readable text),
/// the machine-readable fields win and the other source may only fill what they lack: the
/// diagnostic, the Remote-MTA, and a status that was only guessed (`statusIsPseudo`).
enum RecipientMerge {
    /// The key two records of one recipient share: the mailbox, case-insensitively.
    static func key(_ r: RecipientReport) -> String {
        let a = r.address.asciiLowercased
        return a.isEmpty ? (r.originalRecipientDecoded ?? "").asciiLowercased : a
    }

    /// Merges records with the same address, keeping the first one's place and fields.
    static func onePerRecipient(_ records: [RecipientReport]) -> [RecipientReport] {
        guard records.count > 1 else { return records }
        var out: [RecipientReport] = []
        var index: [String: Int] = [:]
        for r in records {
            let k = key(r)
            if !k.isEmpty, let i = index[k] {
                fill(&out[i], from: r)
            } else {
                if !k.isEmpty { index[k] = out.count }
                out.append(r)
            }
        }
        return out
    }

    /// Fills only a missing diagnostic and a guessed status of a machine-readable record from the
    /// human-readable text's record of the same recipient, when the text writes a status code of
    /// the same class as the record's action implies. A diagnostic taken from the text is read
    /// like a Diagnostic-Code: a generic `x.0.0` Status yields to its more specific code of the
    /// same class (`RFC3464Parser`'s Status rule).
    ///
    /// One exception to "the machine part wins": a `delivered` record whose own entry in the text
    /// says it was relayed to an MTA without DSN ("(relayed to non-DSN-aware mailer)", Exim's
    /// success template, deliver.c) is `relayed`. RFC 3461 §6.2.3 asks for `Action: relayed` there;
    /// Exim 4.96 writes `delivered` and says the truth only in the text. `actionRaw` keeps what the
    /// Action field said.
    static func fillFromText(_ base: inout RecipientReport, from text: RecipientReport) {
        if base.action == .delivered, text.action == .relayed {
            base.action = .relayed
            if base.actionRaw == nil { base.actionRaw = DeliveryAction.delivered.rawValue }
        }
        if base.diagnostic == nil, let d = text.diagnostic {
            base.diagnostic = d
            base.diagnosticType = text.diagnosticType
            if let s = text.status, !text.statusIsPseudo, let b = base.status, !base.statusIsPseudo,
                b.statusClass == s.statusClass, b.subject == 0, b.detail == 0, s.subject != 0 || s.detail != 0
            {
                base.diagnosticStatus = s
                base.status = s
            }
        }
        if base.statusIsPseudo, let s = text.status, !text.statusIsPseudo, s.statusClass == base.status?.statusClass {
            base.status = s
            base.statusIsPseudo = false
        }
    }

    /// Fills what `base` lacks from `other`; never overrides a field `base` has.
    static func fill(_ base: inout RecipientReport, from other: RecipientReport) {
        if base.diagnostic == nil, let d = other.diagnostic {
            base.diagnostic = d
            base.diagnosticType = other.diagnosticType
            if base.diagnosticStatus == nil { base.diagnosticStatus = other.diagnosticStatus }
        }
        if base.statusIsPseudo, let s = other.status, !other.statusIsPseudo {
            base.status = s
            base.statusIsPseudo = false
        }
        if base.remoteMTA == nil { base.remoteMTA = other.remoteMTA }
        if base.originalRecipient == nil {
            base.originalRecipient = other.originalRecipient
            base.originalRecipientDecoded = other.originalRecipientDecoded
        }
        if base.finalRecipient == nil { base.finalRecipient = other.finalRecipient }
        if base.lastAttemptDateText == nil { base.lastAttemptDateText = other.lastAttemptDateText }
        if base.willRetryUntilText == nil { base.willRetryUntilText = other.willRetryUntilText }
        if base.finalLogID == nil { base.finalLogID = other.finalLogID }
        for (k, v) in other.extraFields where base.extraFields[k] == nil { base.extraFields[k] = v }
    }
}
