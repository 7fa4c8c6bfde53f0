extension LegacyRecognizer {
    /// KDDI au one net / ezweb ("Could not be delivered to: <…>").
    static let kddi = LegacyRecognizer(
        family: "kddi",
        any: [.body("could not be delivered to:"), .from("dion.ne.jp"), .from("ezweb.ne.jp")],
        start: ["your mail sent on", "could not be delivered to"],
        recipients: .anywhere
    )
}
