extension LegacyRecognizer {
    /// "X6": an unnamed MTA ("We had trouble delivering your message. Full details follow:").
    static let x6 = LegacyRecognizer(
        family: "x6",
        any: [.body("we had trouble delivering your message")],
        start: ["returned permanent errors:", "error(s):"],
        recipients: .anywhere
    )
}
