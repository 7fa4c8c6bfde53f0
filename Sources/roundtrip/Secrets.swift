import Foundation
import MailTransport

/// Secrets come from a file or the environment, never from an argument that
/// `ps` would show.
enum Secrets {
    static let environmentVariable = "ROUNDTRIP_PASSWORD"

    static func password(file: String?) throws -> String {
        if let file {
            let path = (file as NSString).expandingTildeInPath
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TransportError(.configuration, step: .auth, message: "cannot read the password file \(file)")
            }
            var text = String(decoding: data, as: UTF8.self)
            // One trailing line end is the editor's, not the password's.
            if text.hasSuffix("\r\n") { text.removeLast(2) } else if text.hasSuffix("\n") { text.removeLast() }
            guard !text.isEmpty else { throw TransportError(.configuration, step: .auth, message: "the password file \(file) is empty") }
            return text
        }
        if let env = ProcessInfo.processInfo.environment[environmentVariable], !env.isEmpty {
            return env
        }
        throw TransportError(.configuration, step: .auth, message: "a password is needed: --password-file FILE or \(environmentVariable)")
    }
}
