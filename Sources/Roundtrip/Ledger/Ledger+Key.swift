import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension Ledger {
    /// The HMAC key for probe tokens, beside the ledger.
    public static let keyFileName = "probe-token.key"
    public static let keySize = 32

    /// Loads the installation's probe-token key from `directory`, creating
    /// 32 random octets with mode 0600 on first use.
    ///
    /// Creation is atomic and never replaces a key: the bytes go to a
    /// private temporary file (fsynced), which is then hard-linked to the
    /// final name — a "rename" that fails if the name exists. If another
    /// process won the race, its key is used. An existing key file is refused
    /// when group or others may read or write it, when it belongs to another
    /// user, when it is a symbolic link or not a regular file, or when it does
    /// not hold exactly 32 octets; the message says why and what to do.
    public static func loadOrCreateKey(directory: String) throws -> SymmetricKey {
        try KeyFile.loadOrCreate(directory: directory)
    }
}

/// The POSIX side of the key file (outside `Ledger`, whose `open` and
/// `link` would shadow the system calls).
enum KeyFile {
    static let keySize = Ledger.keySize
    static let keyFileName = Ledger.keyFileName

    static func loadOrCreate(directory: String) throws -> SymmetricKey {
        try LedgerFiles.createPrivateDirectory(directory)
        let path = URL(fileURLWithPath: directory).appendingPathComponent(keyFileName).path
        if let key = try readKey(path: path) { return key }

        let key = SymmetricKey(size: .bits256)
        let bytes = key.withUnsafeBytes { Array($0) }
        let temporary = path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(0o600))
        guard fd >= 0 else {
            let e = errno
            throw LedgerError(.io, "cannot create \(temporary): \(LedgerFiles.errnoText(e))")
        }
        defer { unlink(temporary) }
        do {
            defer { close(fd) }
            guard fchmod(fd, mode_t(0o600)) == 0 else {
                let e = errno
                throw LedgerError(.io, "cannot set the mode of \(temporary): \(LedgerFiles.errnoText(e))")
            }
            var written = 0
            while written < bytes.count {
                let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    let e = errno
                    if e == EINTR { continue }
                    throw LedgerError(.io, "cannot write \(temporary): \(LedgerFiles.errnoText(e))")
                }
                written += n
            }
            guard fsync(fd) == 0 else {
                let e = errno
                throw LedgerError(.io, "cannot sync \(temporary): \(LedgerFiles.errnoText(e))")
            }
        }
        if link(temporary, path) != 0 {
            let e = errno
            guard e == EEXIST else {
                throw LedgerError(.io, "cannot install the key file \(path): \(LedgerFiles.errnoText(e))")
            }
            // Another process created it first: use that one.
            guard let theirs = try readKey(path: path) else {
                throw LedgerError(.io, "the key file \(path) vanished while it was being created")
            }
            return theirs
        }
        syncDirectory(directory)
        return key
    }

    /// nil when the file does not exist.
    static func readKey(path: String) throws -> SymmetricKey? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            let e = errno
            if e == ENOENT { return nil }
            if e == ELOOP {
                throw LedgerError(.invalidKeyFile, "the key file \(path) is a symbolic link; refusing to follow it")
            }
            throw LedgerError(.io, "cannot open the key file \(path): \(LedgerFiles.errnoText(e))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let e = errno
            throw LedgerError(.io, "cannot stat the key file \(path): \(LedgerFiles.errnoText(e))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw LedgerError(.invalidKeyFile, "the key file \(path) is not a regular file")
        }
        let permissions = info.st_mode & mode_t(0o777)
        guard permissions & mode_t(0o077) == 0 else {
            throw LedgerError(
                .insecureKeyFile,
                "the key file \(path) has mode \(String(permissions, radix: 8)): group or others may read or change it, "
                    + "so it can no longer be trusted to sign probe tokens; run `chmod 600 \(path)` if nobody else "
                    + "could have used it, or delete it to make a new key (pending probes then stop verifying)"
            )
        }
        guard info.st_uid == geteuid() else {
            throw LedgerError(
                .insecureKeyFile,
                "the key file \(path) belongs to uid \(info.st_uid), not to this user (uid \(geteuid()))"
            )
        }
        var buffer = [UInt8](repeating: 0, count: keySize + 1)
        var count = 0
        while count < buffer.count {
            let n = buffer[count...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw LedgerError(.io, "cannot read the key file \(path): \(LedgerFiles.errnoText(e))")
            }
            if n == 0 { break }
            count += n
        }
        guard count == keySize else {
            throw LedgerError(
                .invalidKeyFile,
                "the key file \(path) holds \(count > keySize ? "more than \(keySize)" : String(count)) octets, not \(keySize); "
                    + "it is damaged: delete it to make a new key (pending probes then stop verifying)"
            )
        }
        return SymmetricKey(data: buffer[0..<keySize])
    }

    private static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
