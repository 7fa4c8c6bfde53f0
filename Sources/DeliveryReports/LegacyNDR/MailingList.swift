extension LegacyRecognizer {
    /// Mailing-list managers and group services that refuse a posting and return it: Mailman 2/3
    /// ("Your message to the … mailing list was rejected", "has been rejected by the list
    /// moderator"), Sympa ("You are not allowed to send messages to list"), LISTSERV ("You are not
    /// authorized to send mail to the … list"), Google Groups ("you do not have permission to post",
    /// "the group you tried to contact … may not exist"). The failed recipient is the list/group
    /// address; the original sender, whom such notices greet, is never it.
    static let mailingList = LegacyRecognizer(
        family: "mailing-list",
        any: [
            .body("you do not have permission to post"), .body("may not have permission to post"),
            .body("the group you tried to contact"), .body("mailing list was rejected"),
            .body("mailing-list was rejected"), .body("rejected by the list moderator"),
            .body("you are not allowed to send messages to list"), .body("you are not authorized to send mail to"),
            .body("not allowed to post to"), .body("only members can post"),
            .body("posting to this list is restricted"),
        ],
        start: [
            "your message to", "the group you tried to contact", "you do not have permission to post",
            "you are not allowed to send messages to list", "you are not authorized to send mail to",
            "not allowed to post to",
        ],
        recipients: .anywhere
    )

    /// A text that says a message could not be delivered and names a recipient with a written
    /// 4xx/5xx reply or x.y.z status, whatever wrote it (RFC 3834 auto-replies that carry a
    /// delivery failure, MTAs without a recogniser). Without the written code it is not a report.
    static let failureText = LegacyRecognizer(
        family: "failure-text",
        any: [
            .body("could not be delivered"), .body("couldn't be delivered"), .body("undeliverable"),
            .body("delivery has failed"), .body("delivery failed"), .body("was not delivered"),
            .body("wasn't delivered"), .body("unable to deliver"), .body("permanent error"),
            .body("failed permanently"),
        ],
        start: [
            "could not be delivered", "couldn't be delivered", "undeliverable", "delivery has failed",
            "delivery failed", "was not delivered", "wasn't delivered", "unable to deliver", "permanent error",
            "failed permanently",
        ],
        recipients: .anywhere,
        requiresCode: true
    )
}
