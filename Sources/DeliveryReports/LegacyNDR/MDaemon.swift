extension LegacyRecognizer {
    /// Alt-N MDaemon ("<address> - no such user here. There is no user by that name at this
    /// server."; Subject "Warning: <address> - User unknown!", which is a final failure).
    static let mDaemon = LegacyRecognizer(
        family: "mdaemon",
        any: [.from("mdaemon@"), .body("there is no user by that name at this server")],
        end: [": message contains"],
        failed: ["no such user here", "there is no user by that name"]
    )
}
