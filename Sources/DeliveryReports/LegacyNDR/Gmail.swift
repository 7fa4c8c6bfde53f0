extension LegacyRecognizer {
    /// Gmail / Google ("Delivery to the following recipient failed permanently").
    static let gmail = LegacyRecognizer(
        family: "gmail",
        any: [
            .from("@googlemail.com"), .from("@google.com"), .from("@gmail.com"),
            .body("delivery to the following recipient"), .body("technical details of permanent failure"),
        ],
        start: [
            "delivery to the following recipient", "your message wasn't delivered to",
            "delivery has failed to these recipients",
        ],
        end: ["----- original message -----", "----- message header follows"],
        delayed: [
            "has been delayed", "delivery to the following recipient has been delayed",
            "technical details of temporary failure",
            "will retry for",
        ]
    )
}
