import Crypto
import Foundation
import X509

/// The demo's own small PKI, made in-process: a CA the demo's client trusts (`--ca-file`
/// style) and a certificate it issues for the simulator, valid for 127.0.0.1, so the STARTTLS
/// handshake of the demo verifies as a well-run server's does and no warning is printed.
enum DemoCertificates {
    struct Files {
        var caFile: String
        var certificateFile: String
        var keyFile: String
    }

    /// Writes `demo-ca.pem`, `simulator-cert.pem` and `simulator-key.pem` (mode 0600) into
    /// `directory`.
    static func make(in directory: String, serverName: String) throws -> Files {
        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("roundtrip demo CA") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(86400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(caKey.publicKey))
            },
            issuerPrivateKey: .init(caKey)
        )
        let serverKey = P256.Signing.PrivateKey()
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(86400),
            issuer: caName, subject: try DistinguishedName { CommonName(serverName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName(serverName), .ipAddress(.init(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(caKey)
        )
        let files = Files(
            caFile: directory + "/demo-ca.pem", certificateFile: directory + "/simulator-cert.pem",
            keyFile: directory + "/simulator-key.pem")
        try write(try ca.serializeAsPEM().pemString, to: files.caFile)
        try write(try server.serializeAsPEM().pemString, to: files.certificateFile)
        try write(serverKey.pemRepresentation, to: files.keyFile)
        return files
    }

    private static func write(_ text: String, to path: String) throws {
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
