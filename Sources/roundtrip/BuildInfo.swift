import CBuildInfo

extension RoundtripVersion {
    /// The commit this binary was built from (short hash), or "unknown" for a build without
    /// `ROUNDTRIP_COMMIT` in the environment (a plain `swift build`).
    static let commit = String(cString: roundtrip_build_commit())

    /// What `roundtrip --version` prints: `roundtrip 0.1.0 (commit abc1234)`.
    static let versionLine = "roundtrip \(current) (commit \(commit))"
}
