extension LegacyRecognizer {
    /// Microsoft Exchange 2003–2019 and Office 365 / Exchange Online text NDRs
    /// ("Delivery has failed to these recipients or groups:", "did not reach some or all").
    static let exchange = LegacyRecognizer(
        family: "exchange",
        any: [
            .body("delivery has failed to these recipients or groups"),
            .body("your message did not reach some or all of the intended recipients"),
            .body("the following recipient(s) could not be reached"),
            .body("delivery is delayed to these recipients or groups"),
            .body("diagnostic information for administrators"),
            .header("x-ms-exchange-message-is-ndr"),
        ],
        start: [
            "delivery has failed to these recipients or groups", "could not be reached:",
            "delivery is delayed to these recipients or groups", "couldn't be delivered", "wasn't delivered to",
        ],
        end: ["original message headers:", "------ original message header", "content-type: message/rfc822"],
        delayed: [
            "delivery is delayed to these recipients or groups", "(delay)", "will continue to try",
            "this is an informational message only",
        ]
    )
}
