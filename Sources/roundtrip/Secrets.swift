import Foundation
import MailTransport

/// Secrets come from a file or the environment, never from an argument that
/// `ps` would show.
enum Secrets {
    static let environmentVariable = "ROUNDTRIP_PASSWORD"

    static func password(file: String?, environment: String = environmentVariable) throws -> String {
        if let file {
            let path = (file as NSString).expandingTildeInPath
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TransportError(.configuration, step: .auth, message: "cannot read the password file \(file)")
            }
            warnIfShared(path, shown: file)
            var text = String(decoding: data, as: UTF8.self)
            // One trailing line end is the editor's, not the password's.
            if text.hasSuffix("\r\n") { text.removeLast(2) } else if text.hasSuffix("\n") { text.removeLast() }
            guard !text.isEmpty else {
                throw TransportError(.configuration, step: .auth, message: "the password file \(file) is empty")
            }
            return text
        }
        if let env = ProcessInfo.processInfo.environment[environment], !env.isEmpty {
            return env
        }
        throw TransportError(
            .configuration, step: .auth, message: "a password is needed: a password file or \(environment)"
        )
    }

    /// A password file others can read is a leak waiting to happen: say so
    /// (as ssh does for keys), but go on, the operator may have reasons.
    static func warnIfShared(_ path: String, shown: String) {
        if let message = sharedFileWarning(path, shown: shown) {
            FileHandle.standardError.write(Data("roundtrip: warning: \(message)\n".utf8))
        }
    }

    /// A private key file must be readable by its owner only: refused otherwise.
    static func privateKey(file: String) throws -> String {
        let path = (file as NSString).expandingTildeInPath
        var st = stat()
        guard stat(path, &st) == 0, let data = FileManager.default.contents(atPath: path) else {
            throw TransportError(.configuration, step: .data, message: "cannot read the key file \(file)")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw TransportError(
                .configuration, step: .data,
                message:
                    "the key file \(file) is readable by group or others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it"
            )
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func sharedFileWarning(_ path: String, shown: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & 0o044 != 0 else { return nil }
        return
            "the password file \(shown) is readable by group or others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it"
    }
}
