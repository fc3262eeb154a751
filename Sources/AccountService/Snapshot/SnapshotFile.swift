#if canImport(Glibc)
    import Glibc
#endif

/// Why a snapshot file could not be written or read: the operation, the path and the
/// system's reason.
public struct SnapshotFileError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var path: String
    public var reason: String

    init(_ operation: String, _ path: String, errno code: Int32) {
        self.operation = operation
        self.path = path
        self.reason = String(cString: strerror(code))
    }

    public var description: String { "\(operation) \(path): \(reason)" }
}

/// A snapshot on disk, `<directory>/<name>.snapshot`, replaced atomically: the bytes go
/// to `<name>.snapshot.tmp`, which is fsynced and renamed over the snapshot, then the
/// directory is fsynced so that the rename survives a crash. A reader sees the old
/// snapshot or the new one, never a mix.
public struct SnapshotFile: Sendable {
    public let directory: String
    public let name: String

    public init(directory: String, name: String = "accounts") {
        self.directory = directory
        self.name = name
    }

    public var path: String { "\(directory)/\(name).snapshot" }
    var temporaryPath: String { "\(directory)/\(name).snapshot.tmp" }

    /// Writes `bytes` as the new snapshot (creating the directory when it is missing).
    public func write(_ bytes: [UInt8]) throws(SnapshotFileError) {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw SnapshotFileError("creating directory", directory, errno: errno)
        }
        let temporary = temporaryPath
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SnapshotFileError("opening", temporary, errno: errno) }
        do throws(SnapshotFileError) {
            var written = 0
            while written < bytes.count {
                let result = bytes.withUnsafeBytes { buffer in
                    Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
                }
                if result < 0 {
                    if errno == EINTR { continue }
                    throw SnapshotFileError("writing", temporary, errno: errno)
                }
                written += result
            }
            guard fsync(fd) == 0 else { throw SnapshotFileError("fsyncing", temporary, errno: errno) }
            guard close(fd) == 0 else {
                unlink(temporary)
                throw SnapshotFileError("closing", temporary, errno: errno)
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw SnapshotFileError("renaming \(temporary) to", path, errno: code)
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw SnapshotFileError("opening directory", directory, errno: errno) }
        defer { close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw SnapshotFileError("fsyncing directory", directory, errno: errno) }
    }

    /// The snapshot's bytes, or nil when there is none.
    public func read() throws(SnapshotFileError) -> [UInt8]? {
        let file = path
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw SnapshotFileError("opening", file, errno: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SnapshotFileError("reading", file, errno: errno)
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }
}
