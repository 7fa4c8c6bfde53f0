import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small POSIX helpers for the ledger's files: private directories, the
/// setup lock, and error text from `errno`.
enum LedgerFiles {
    static func errnoText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// Creates `path` and any missing parents with mode 0700. An existing
    /// directory is left as it is.
    static func createPrivateDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw LedgerError(.io, "\(path) exists and is not a directory")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]
            )
        } catch {
            // Another process may have created it meanwhile.
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return }
            throw LedgerError(.io, "cannot create the directory \(path): \(error.localizedDescription)")
        }
    }

    /// Creates an empty file with mode 0600 if none exists, so that SQLite
    /// (which copies the database's mode to its -wal and -shm files) never
    /// makes a world-readable ledger.
    static func createPrivateFileIfMissing(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(0o600))
        if fd >= 0 {
            close(fd)
            return
        }
        let e = errno
        guard e == EEXIST else { throw LedgerError(.io, "cannot create \(path): \(errnoText(e))") }
    }

    static func parentDirectory(of path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().path
    }
}

/// An exclusive `flock` on a file beside the ledger, held while a process
/// sets the ledger up (WAL mode, migrations). flock locks belong to the open
/// file description, so they also exclude other openers in the same process.
struct SetupLock {
    private let fd: Int32

    /// Waits up to `timeout` seconds, polling without spinning.
    init(path: String, timeout: TimeInterval) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode_t(0o600))
        guard fd >= 0 else {
            let e = errno
            throw LedgerError(.io, "cannot open the lock file \(path): \(LedgerFiles.errnoText(e))")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            guard e == EWOULDBLOCK || e == EINTR || e == EAGAIN else {
                close(fd)
                throw LedgerError(.io, "cannot lock \(path): \(LedgerFiles.errnoText(e))")
            }
            guard Date() < deadline else {
                close(fd)
                throw LedgerError(.locked, "another roundtrip process has held \(path) for more than \(Int(timeout)) s")
            }
            usleep(20_000)
        }
        self.fd = fd
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
