extension LegacyRecognizer {
    /// Exim ("This message was created automatically by mail delivery software."), incl. Mail.ru,
    /// GMX, 1&1 and other Exim-based providers.
    static let exim = LegacyRecognizer(
        family: "exim",
        any: [
            .body("this message was created automatically by mail delivery software"),
            .body("a message that you sent could not be delivered"),
            .body("message you sent has not yet been delivered"),
            .header("x-failed-recipients"), .subject("warning: message"),
        ],
        start: [
            "the following address(es) failed", "the following address failed", "following address",
            "could not be delivered to one or more of its", "has not yet been delivered to one or more",
        ],
        end: [
            "------ this is a copy of the message", "--- the header of the original message is following",
            "------ this is a copy of your message", "no action is required on your part",
        ],
        delayed: ["delivery attempts will continue"]
    )
}
