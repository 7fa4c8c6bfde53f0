extension LegacyRecognizer {
    /// "X2": an unnamed MTA ("Unable to deliver message to the following address(es).").
    static let x2 = LegacyRecognizer(
        family: "x2",
        any: [.body("unable to deliver message to the following address")],
        start: ["unable to deliver message to the following address"],
        end: ["--- original message follows"]
    )
}
