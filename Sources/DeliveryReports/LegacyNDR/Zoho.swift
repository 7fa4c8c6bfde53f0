extension LegacyRecognizer {
    /// Zoho Mail.
    static let zoho = LegacyRecognizer(
        family: "zoho",
        all: [.from("zoho")],
        start: [
            "could not be delivered to one or more of its recipients", "this is a permanent error.",
            "this is a temporary error",
        ],
        end: ["received:from", "from:"],
        delayed: ["temporary error"]
    )
}
