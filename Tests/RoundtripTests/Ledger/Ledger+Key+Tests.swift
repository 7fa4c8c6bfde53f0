import Crypto
import Foundation
import RoundtripCore
import Testing

@testable import Roundtrip

@Suite("Probe-token key file")
struct LedgerKeyTests {
    func bytes(_ key: SymmetricKey) -> [UInt8] { key.withUnsafeBytes { Array($0) } }

    @Test func createdOnceWithMode0600AndNeverOverwritten() async throws {
        try await withTemporaryDirectory { dir in
            let keyDir = dir + "/state/roundtrip"
            let key = try Ledger.loadOrCreateKey(directory: keyDir)
            let path = keyDir + "/" + Ledger.keyFileName
            #expect(try posixMode(keyDir) == 0o700)
            #expect(try posixMode(path) == 0o600)
            let onDisk = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(onDisk.count == 32)
            #expect(onDisk == bytes(key))
            #expect(Set(onDisk).count > 1)

            let again = try Ledger.loadOrCreateKey(directory: keyDir)
            #expect(bytes(again) == bytes(key))
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: path))) == onDisk)
            #expect(try FileManager.default.contentsOfDirectory(atPath: keyDir) == [Ledger.keyFileName])

            // Tokens made under the loaded key verify under the created one.
            let probeToken = ProbeToken.make(
                createdAt: 1_800_000_000, random: Array(repeating: 1, count: 12), key: again)
            #expect(ProbeToken.validate(probeToken.value, key: key) == .valid(probeToken))
        }
    }

    @Test func concurrentCreatorsAgreeOnOneKey() async throws {
        try await withTemporaryDirectory { dir in
            let keys = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<8 {
                    group.addTask { self.bytes(try Ledger.loadOrCreateKey(directory: dir)) }
                }
                var all: [[UInt8]] = []
                for try await k in group { all.append(k) }
                return all
            }
            #expect(keys.count == 8)
            #expect(Set(keys).count == 1)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == [Ledger.keyFileName])
        }
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o606])
    func tooOpenPermissionsAreRefused(mode: Int) async throws {
        try await withTemporaryDirectory { dir in
            let original = bytes(try Ledger.loadOrCreateKey(directory: dir))
            let path = dir + "/" + Ledger.keyFileName
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            let error = await ledgerError { _ = try Ledger.loadOrCreateKey(directory: dir) }
            #expect(error?.code == .insecureKeyFile)
            #expect(error?.message.contains("mode \(String(mode, radix: 8))") == true)
            #expect(error?.message.contains("group or others") == true)
            #expect(error?.message.contains("chmod 600") == true)
            // Refusing never replaces the key.
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: path))) == original)
        }
    }

    @Test func aDamagedKeyIsRefusedNotReplaced() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/" + Ledger.keyFileName
            for size in [0, 16, 33] {
                #expect(
                    FileManager.default.createFile(
                        atPath: path, contents: Data(repeating: 9, count: size),
                        attributes: [.posixPermissions: 0o600]))
                let error = await ledgerError { _ = try Ledger.loadOrCreateKey(directory: dir) }
                #expect(error?.code == .invalidKeyFile)
                #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count == size)
                try FileManager.default.removeItem(atPath: path)
            }
        }
    }

    @Test func symbolicLinksAndDirectoriesAreRefused() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/" + Ledger.keyFileName
            let elsewhere = dir + "/elsewhere.key"
            #expect(
                FileManager.default.createFile(
                    atPath: elsewhere, contents: Data(repeating: 1, count: 32),
                    attributes: [.posixPermissions: 0o600]))
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: elsewhere)
            #expect(await ledgerError { _ = try Ledger.loadOrCreateKey(directory: dir) }?.code == .invalidKeyFile)
            try FileManager.default.removeItem(atPath: path)
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: false,
                attributes: [.posixPermissions: 0o700])
            #expect(await ledgerError { _ = try Ledger.loadOrCreateKey(directory: dir) } != nil)
        }
    }
}
