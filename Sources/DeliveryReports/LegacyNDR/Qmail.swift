extension LegacyRecognizer {
    /// qmail-send ("Hi. This is the qmail-send program …"), also netqmail derivatives.
    static let qmail = LegacyRecognizer(
        family: "qmail",
        any: [
            .body("this is the qmail-send program"), .body("this is the qmail program"),
            .body("i'm afraid i wasn't able to deliver your message"), .body("qmail-local"),
            .headerValue("received", "invoked for bounce"),
        ],
        start: ["following addresses.", "to the following addresses", "i'm afraid i wasn't able"],
        end: ["--- below this line is a copy of the message", "--- enclosed are the original headers"],
        delayed: []
    )
}
