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

    init(_ operation: String, _ path: String, reason: String) {
        self.operation = operation
        self.path = path
        self.reason = reason
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
        let draft = try self.draft()
        try draft.append(bytes)
        try draft.commit()
    }

    /// A new snapshot to write piece by piece into the temporary file (creating the directory
    /// when it is missing); it replaces the snapshot only on ``SnapshotDraft/commit()``.
    public func draft() throws(SnapshotFileError) -> SnapshotDraft {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw SnapshotFileError("creating directory", directory, errno: errno)
        }
        let temporary = temporaryPath
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SnapshotFileError("opening", temporary, errno: errno) }
        return SnapshotDraft(file: self, fd: fd)
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

/// The temporary file of a snapshot being written. Any failure, or dropping it before
/// ``commit()``, removes the temporary file: the snapshot in place stays as it was.
public final class SnapshotDraft {
    private let file: SnapshotFile
    private var fd: Int32
    private var written = 0

    init(file: SnapshotFile, fd: Int32) {
        self.file = file
        self.fd = fd
    }

    deinit { abandon() }

    /// Puts `bytes` after what is written.
    public func append(_ bytes: [UInt8]) throws(SnapshotFileError) {
        try put(bytes, at: written)
        written += bytes.count
    }

    /// Puts `bytes` over what is written at `offset` (which must not go past the end).
    public func overwrite(_ bytes: [UInt8], at offset: Int) throws(SnapshotFileError) {
        precondition(offset >= 0 && offset + bytes.count <= written, "overwriting past the end")
        try put(bytes, at: offset)
    }

    /// fsyncs the temporary file, renames it over the snapshot, and fsyncs the directory.
    public func commit() throws(SnapshotFileError) {
        let temporary = file.temporaryPath
        guard fd >= 0 else { throw SnapshotFileError("writing", temporary, reason: "the draft was abandoned") }
        guard fsync(fd) == 0 else { throw failure("fsyncing", temporary) }
        let closed = close(fd)
        fd = -1
        guard closed == 0 else {
            let code = errno
            unlink(temporary)
            throw SnapshotFileError("closing", temporary, errno: code)
        }
        guard rename(temporary, file.path) == 0 else {
            let code = errno
            unlink(temporary)
            throw SnapshotFileError("renaming \(temporary) to", file.path, errno: code)
        }
        let directory = file.directory
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw SnapshotFileError("opening directory", directory, errno: errno) }
        defer { close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw SnapshotFileError("fsyncing directory", directory, errno: errno) }
    }

    private func put(_ bytes: [UInt8], at offset: Int) throws(SnapshotFileError) {
        let temporary = file.temporaryPath
        guard fd >= 0 else { throw SnapshotFileError("writing", temporary, reason: "the draft was abandoned") }
        var done = 0
        while done < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw failure("writing", temporary)
            }
            done += result
        }
    }

    /// The error for `operation`, after closing and removing the temporary file.
    private func failure(_ operation: String, _ path: String) -> SnapshotFileError {
        let error = SnapshotFileError(operation, path, errno: errno)
        abandon()
        return error
    }

    private func abandon() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(file.temporaryPath)
    }
}
