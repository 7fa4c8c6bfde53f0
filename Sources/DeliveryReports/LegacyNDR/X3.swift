extension LegacyRecognizer {
    /// "X3": an unnamed MTA ("This is an automatically generated Delivery Status Notification.").
    static let x3 = LegacyRecognizer(
        family: "x3",
        any: [.body("this is an automatically generated delivery status notification")],
        start: [
            "delivery to the following recipients failed",
            "this is an automatically generated delivery status notification",
        ],
        delayed: ["delivery to the following recipients has been delayed"]
    )
}
