extension LegacyRecognizer {
    /// Yahoo! Mail ("Sorry, we were unable to deliver your message to the following address.").
    static let yahoo = LegacyRecognizer(
        family: "yahoo",
        any: [
            .body("sorry, we were unable to deliver your message to the following address"),
            .body("message from yahoo! mail"),
        ],
        start: ["to the following address", "the following address"],
        end: ["--- below this line is a copy of the message"]
    )
}
