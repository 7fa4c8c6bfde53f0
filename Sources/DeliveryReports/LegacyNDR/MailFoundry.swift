extension LegacyRecognizer {
    /// MailFoundry ("Unable to deliver message to: <…>").
    static let mailFoundry = LegacyRecognizer(
        family: "mailfoundry",
        any: [.body("unable to deliver message to:"), .subject("message delivery has failed")],
        start: ["unable to deliver message to:"],
        recipients: .anywhere
    )
}
