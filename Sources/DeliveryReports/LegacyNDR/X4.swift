extension LegacyRecognizer {
    /// "X4": qmail-based providers ("Your mail message to the following address(es) could not be delivered.").
    static let x4 = LegacyRecognizer(
        family: "x4",
        any: [
            .body("your mail message to the following address"),
            .body("could not be delivered. this is a permanent error"),
        ],
        start: ["the following address"],
        end: ["--- below this line is a copy of the message"]
    )
}
