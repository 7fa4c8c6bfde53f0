extension LegacyRecognizer {
    /// Courier MTA ("This is a delivery status notification from …, running the Courier mail server").
    static let courier = LegacyRecognizer(
        family: "courier",
        any: [.body("running the courier mail server"), .subject("notice: mail delivery status")],
        start: ["following recipients cannot be delivered", "undeliverable mail", "delayed mail"],
        end: ["--- original message follows", "content-type: message/rfc822"],
        delayed: ["delayed mail", "has not been delivered yet", "will continue attempting"]
    )
}
