extension LegacyRecognizer {
    /// Trustwave MailMarshal SMTP ("The following recipients were affected:").
    static let mailMarshal = LegacyRecognizer(
        family: "mailmarshal",
        any: [.body("the following recipients were affected"), .subject("undeliverable mail:")],
        start: ["your message:"],
        end: ["additional information", "======"],
        recipients: .afterLabels(["   ", "\t"])
    )
}
