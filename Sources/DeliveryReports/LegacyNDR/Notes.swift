extension LegacyRecognizer {
    /// Lotus Notes / Domino SMTP gateway ("------- Failure Reasons --------").
    static let notes = LegacyRecognizer(
        family: "notes",
        any: [.body("------- failure reasons"), .body("lotus"), .body("name & address book")],
        start: ["------- failure reasons"],
        end: ["------- returned message"],
        recipients: .anywhere
    )
}
