extension LegacyRecognizer {
    /// BIGLOBE ("----- The following addresses had delivery problems -----").
    static let biglobe = LegacyRecognizer(
        family: "biglobe",
        all: [.from("biglobe")],
        start: ["----- the following addresses had delivery problems"],
        end: ["content-type: message/rfc822"],
        recipients: .anywhere
    )
}
