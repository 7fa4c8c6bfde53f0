import Crypto
import Foundation
import MailTransport

/// The per-installation HMAC key for probe tokens: 32 random octets in a
/// file of mode 0600 beside the ledger, made on first use.
enum ProbeKeyStore {
    static func defaultDirectory() -> String {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((env["HOME"] ?? NSHomeDirectory()) + "/.local/share")
        return base + "/roundtrip"
    }

    static func loadOrCreate(directory: String) throws -> SymmetricKey {
        let fm = FileManager.default
        let path = directory + "/probe.key"
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw TransportError(.configuration, step: .dns, message: "cannot create \(directory): \(error.localizedDescription)")
        }
        if !fm.fileExists(atPath: path) {
            var bytes = [UInt8](repeating: 0, count: 32)
            var rng = SystemRandomNumberGenerator()
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
            let tmp = path + ".tmp.\(getpid())"
            guard fm.createFile(atPath: tmp, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                throw TransportError(.configuration, step: .dns, message: "cannot write the probe key \(path)")
            }
            // link(2) never replaces an existing key made by a concurrent process.
            if link(tmp, path) != 0 && errno != EEXIST {
                unlink(tmp)
                throw TransportError(.configuration, step: .dns, message: "cannot install the probe key \(path)")
            }
            unlink(tmp)
        }
        let attrs = try? fm.attributesOfItem(atPath: path)
        if let mode = attrs?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw TransportError(.configuration, step: .dns, message: "the probe key \(path) is readable by others (mode \(String(mode, radix: 8))); chmod 600 it")
        }
        guard let data = fm.contents(atPath: path), data.count == 32 else {
            throw TransportError(.configuration, step: .dns, message: "the probe key \(path) is unreadable or not 32 octets")
        }
        return SymmetricKey(data: data)
    }
}
