extension LegacyRecognizer {
    /// Novell / Micro Focus GroupWise ("The message that you sent was not delivered to the following recipients").
    static let groupWise = LegacyRecognizer(
        family: "groupwise",
        any: [
            .body("the message that you sent was not delivered to the following"), .body("groupwise"),
            .headerValue("x-mailer", "groupwise"),
        ],
        start: ["was not delivered to the following", "undeliverable"],
        end: ["content-type: message/rfc822", "--- original message"],
        delayed: []
    )
}
