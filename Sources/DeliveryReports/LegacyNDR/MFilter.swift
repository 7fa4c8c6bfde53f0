extension LegacyRecognizer {
    /// m-FILTER (Digital Arts), Japanese.
    static let mFilter = LegacyRecognizer(
        family: "mfilter",
        any: [.body("m-filter"), .body("-------server message")],
        start: ["以下のメールアドレスへの送信に失敗しました", "失敗しました"],
        end: ["-------original message", "-------smtp command"]
    )
}
