extension LegacyRecognizer {
    /// DragonFly Mail Agent (dma).
    static let dragonfly = LegacyRecognizer(
        family: "dragonfly",
        any: [.body("this is the dragonfly mail agent"), .body("dragonfly mail agent")],
        start: ["there was an error delivering your mail to", "delivery to the following"],
        end: ["message headers follow."],
        recipients: .anywhere
    )
}
