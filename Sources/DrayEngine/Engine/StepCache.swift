import Crypto
import Foundation
import NIOCore
import NIOFileSystem

/// A node's cache of step outputs, on its disk: a step that says `cache` and runs again on the
/// same input bytes, with the same image (by id, not tag), entrypoint, command, environment,
/// working directory, user, output channel and delimiters, gets the earlier run's output and
/// log back instead of a container.
///
/// Each entry is a folder named by its key, holding `output`, `log` (the step's lines, as
/// ``LogTape`` wrote them, secrets already masked) and `entry.json`. Entries are dropped least
/// recently used first once they hold more than `maxBytes`, and read back at the first use
/// after a restart. Secrets never reach the disk in clear: the key holds an HMAC of their
/// values, with a key of this node's own (`key`, 0600).
public actor StepCache {
    public struct Stats: Sendable, Codable, Equatable {
        public var entries: Int
        public var bytes: Int64
        public var maxBytes: Int64
        public var hits: Int
        public var misses: Int
        /// Hits over lookups since the server started; nil before the first lookup.
        public var hitRatio: Double?
    }

    /// What a hit gives back.
    public struct Hit: Sendable {
        public var output: FilePath
        public var log: FilePath
        public var origin: CacheOrigin
        public var bytes: Int64
        /// The output's digest, when the entry kept it.
        public var digest: SpoolDigest?
    }

    struct Entry: Codable {
        var origin: CacheOrigin
        /// The output's bytes and the log's, together.
        var bytes: Int64
        var outputBytes: Int64
        var lastUsed: Date
        /// The output's SHA-256, so that a hit need not read it again.
        var sha256: String?
    }

    public let root: FilePath
    public let maxBytes: Int64
    private let counted: (@Sendable (_ hit: Bool) -> Void)?
    private var secret: SymmetricKey?
    private var entries: [String: Entry] = [:]
    private var loaded = false
    private var hits = 0
    private var misses = 0

    /// - Parameter counted: Told of every lookup and whether it hit, for the metrics.
    public init(root: FilePath, maxBytes: Int64, counted: (@Sendable (_ hit: Bool) -> Void)? = nil) {
        self.root = root
        self.maxBytes = maxBytes
        self.counted = counted
    }

    // MARK: - Keys

    /// The key of step `index` of `job` whose image has id `imageID`, reading `inputs` (each
    /// with its name in a `files` fan-in, else empty), in order.
    public func key(job: Job, step index: Int, imageID: String, inputs: [(name: String, digest: SpoolDigest)])
        async throws -> String
    {
        try await load()
        let step = job.steps[index]
        let secrets = Set(
            ((job.environment ?? []) + (step.environment ?? [])).filter(\.isSecret).map(\.variable))
        let environment = job.environment(forStep: index).map { pair -> [String] in
            let name = String(pair.prefix { $0 != "=" })
            let value = String(pair.dropFirst(name.count + 1))
            guard secrets.contains(name), let secret else { return [name, value] }
            let mac = HMAC<SHA256>.authenticationCode(for: Data(value.utf8), using: secret)
            return [name, "hmac-sha256:" + Array(mac).hex]
        }
        let parts = KeyParts(
            image: imageID, entrypoint: step.entrypoint, command: step.command, environment: environment,
            workingDir: step.workingDir, user: step.user, output: step.outputChannel,
            beginDelimiter: step.beginDelimiter, endDelimiter: step.endDelimiter,
            fanIn: inputs.count > 1 ? (step.inputs ?? .concat).rawValue : nil,
            inputs: inputs.map { [$0.name, $0.digest.sha256, String($0.digest.size)] })
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let digest = SHA256.hash(data: try encoder.encode(parts))
        return Array(digest).hex
    }

    /// What the key is taken over. Bumping `version` empties every cache of an older one.
    private struct KeyParts: Encodable {
        var version = 1
        var image: String
        var entrypoint: [String]?
        var command: [String]?
        var environment: [[String]]
        var workingDir: String?
        var user: String?
        var output: OutputChannel
        var beginDelimiter: String?
        var endDelimiter: String?
        var fanIn: String?
        var inputs: [[String]]
    }

    // MARK: - Entries

    /// The entry for `key`, now the most recently used; nil on a miss.
    public func lookup(_ key: String) async -> Hit? {
        try? await load()
        let folder = root.appending(key)
        guard var entry = entries[key],
            await JobRunner.size(of: folder.appending("output")) == entry.outputBytes
        else {
            // An entry whose output went (removed by hand) is dropped whole.
            if entries.removeValue(forKey: key) != nil {
                _ = try? await FileSystem.shared.removeItem(at: folder, recursively: true)
            }
            misses += 1
            counted?(false)
            return nil
        }
        entry.lastUsed = Date()
        entries[key] = entry
        try? await write(entry, to: folder)
        hits += 1
        counted?(true)
        return Hit(
            output: folder.appending("output"), log: folder.appending("log"), origin: entry.origin,
            bytes: entry.outputBytes, digest: entry.sha256.map { SpoolDigest(sha256: $0, size: entry.outputBytes) })
    }

    /// Keeps `output` (linked when on the same disk, else copied) and `log` (moved) as the entry
    /// for `key`, then drops the least recently used entries until the cache fits its bound.
    /// An entry larger than the bound is not kept.
    public func store(_ key: String, output: FilePath, log: FilePath, origin: CacheOrigin) async {
        defer { Task { _ = try? await FileSystem.shared.removeItem(at: log) } }
        guard (try? await load()) != nil, entries[key] == nil else { return }
        guard let outputBytes = await JobRunner.size(of: output) else { return }
        let bytes = outputBytes + (await JobRunner.size(of: log) ?? 0)
        guard bytes <= maxBytes else { return }
        let folder = root.appending(key)
        let partial = root.appending("partial-\(UUID().uuidString)")
        do {
            try await FileSystem.shared.createDirectory(at: partial, withIntermediateDirectories: true)
            try await Self.linkOrCopy(output, to: partial.appending("output"))
            try await FileSystem.shared.moveItem(at: log, to: partial.appending("log"))
            let digest = await SpoolDigest.kept(for: output)
            let entry = Entry(
                origin: origin, bytes: bytes, outputBytes: outputBytes, lastUsed: Date(),
                sha256: digest?.size == outputBytes ? digest?.sha256 : nil)
            try await write(entry, to: partial)
            try await FileSystem.shared.moveItem(at: partial, to: folder)
            entries[key] = entry
        } catch {
            _ = try? await FileSystem.shared.removeItem(at: partial, recursively: true)
            return
        }
        await evict()
    }

    public func stats() async -> Stats {
        try? await load()
        let lookups = hits + misses
        return Stats(
            entries: entries.count, bytes: entries.values.reduce(0) { $0 + $1.bytes }, maxBytes: maxBytes,
            hits: hits, misses: misses, hitRatio: lookups == 0 ? nil : Double(hits) / Double(lookups))
    }

    /// Drops every entry; returns how many there were and their bytes.
    public func clear() async -> (entries: Int, bytes: Int64) {
        try? await load()
        let dropped = (entries.count, entries.values.reduce(0) { $0 + $1.bytes })
        for key in entries.keys {
            _ = try? await FileSystem.shared.removeItem(at: root.appending(key), recursively: true)
        }
        entries = [:]
        return dropped
    }

    private func evict() async {
        var total = entries.values.reduce(0) { $0 + $1.bytes }
        for (key, entry) in entries.sorted(by: { $0.value.lastUsed < $1.value.lastUsed }) where total > maxBytes {
            _ = try? await FileSystem.shared.removeItem(at: root.appending(key), recursively: true)
            entries[key] = nil
            total -= entry.bytes
        }
    }

    private func write(_ entry: Entry, to folder: FilePath) async throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        try await FileSystem.shared.withFileHandle(
            forWritingAt: folder.appending("entry.json"), options: .newFile(replaceExisting: true)
        ) { handle in
            _ = try await handle.write(contentsOf: try encoder.encode(entry), toAbsoluteOffset: 0)
        }
    }

    /// Reads the node's key and the entries on disk, once; drops what a crash left half written.
    private func load() async throws {
        guard !loaded else { return }
        try await FileSystem.shared.createDirectory(
            at: root, withIntermediateDirectories: true, permissions: [.ownerReadWriteExecute])
        let keyPath = root.appending("key")
        var stored: ByteBuffer?
        do {
            stored = try await FileSystem.shared.withFileHandle(forReadingAt: keyPath) { handle in
                try await handle.readToEnd(maximumSizeAllowed: .bytes(64))
            }
        } catch {
            stored = nil
        }
        if let stored, stored.readableBytes == 32 {
            secret = SymmetricKey(data: Data(stored.readableBytesView))
        } else {
            let key = SymmetricKey(size: .bits256)
            let bytes = key.withUnsafeBytes { Array($0) }
            try await FileSystem.shared.withFileHandle(
                forWritingAt: keyPath, options: .newFile(replaceExisting: true, permissions: [.ownerReadWrite])
            ) { handle in
                _ = try await handle.write(contentsOf: bytes, toAbsoluteOffset: 0)
            }
            secret = key
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        let folders = try await FileSystem.shared.withDirectoryHandle(atPath: root) { directory in
            var folders: [(name: String, path: FilePath)] = []
            for try await item in directory.listContents() where item.type == .directory {
                folders.append((item.name.string, item.path))
            }
            return folders
        }
        for (name, path) in folders {
            var entry: ByteBuffer?
            do {
                entry = try await FileSystem.shared.withFileHandle(forReadingAt: path.appending("entry.json")) {
                    handle in try await handle.readToEnd(maximumSizeAllowed: .kibibytes(64))
                }
            } catch {
                entry = nil
            }
            if name.count == 64, let entry,
                let decoded = try? decoder.decode(Entry.self, from: Data(entry.readableBytesView))
            {
                entries[name] = decoded
            } else {
                _ = try? await FileSystem.shared.removeItem(at: path, recursively: true)
            }
        }
        loaded = true
        await evict()
    }

    /// A hard link when `source` and `destination` are on one file system (no bytes copied),
    /// else a copy. Spools are written to new files, never over old ones, so a link stays true.
    static func linkOrCopy(_ source: FilePath, to destination: FilePath) async throws {
        _ = try? await FileSystem.shared.removeItem(at: destination)
        if link(source.string, destination.string) == 0 { return }
        try await FileSystem.shared.copyItem(at: source, to: destination)
    }
}

/// A step's log lines as they pass, written to a file for the cache: each line a byte for its
/// stream, four for its length (little-endian), then its bytes.
public actor LogTape {
    let path: FilePath
    private var pending = ByteBuffer()
    private var offset: Int64 = 0
    private var failed = false

    public init(path: FilePath) {
        self.path = path
    }

    func record(_ lines: [LogLine]) async {
        for line in lines {
            pending.writeInteger(line.stream == .stderr ? UInt8(2) : UInt8(1))
            pending.writeInteger(UInt32(line.bytes.count), endianness: .little)
            pending.writeBytes(line.bytes)
        }
        if pending.readableBytes >= 1 << 20 { _ = await flush() }
    }

    /// Writes what is held; false when the tape could not be written (the step is then not cached).
    func flush() async -> Bool {
        guard !failed else { return false }
        guard pending.readableBytes > 0 || offset == 0 else { return true }
        let (bytes, at) = (pending, offset)
        do {
            try await FileSystem.shared.withFileHandle(
                forWritingAt: path, options: .modifyFile(createIfNecessary: true)
            ) { handle in
                _ = try await handle.write(contentsOf: bytes.readableBytesView, toAbsoluteOffset: at)
            }
            offset += Int64(pending.readableBytes)
            pending.clear()
        } catch {
            failed = true
        }
        return !failed
    }

    /// Calls `body` with the lines of the tape at `path`, as step `step`'s, 1,000 at a time.
    static func replay(_ path: FilePath, step: Int, _ body: ([LogLine]) async -> Void) async throws {
        var carry = ByteBuffer()
        var lines: [LogLine] = []
        try await FileSystem.shared.withFileHandle(forReadingAt: path) { handle in
            for try await chunk in handle.readChunks(chunkLength: .kibibytes(256)) {
                var chunk = chunk
                carry.writeBuffer(&chunk)
                while carry.readableBytes >= 5,
                    let length = carry.getInteger(at: carry.readerIndex + 1, endianness: .little, as: UInt32.self),
                    carry.readableBytes >= 5 + Int(length)
                {
                    let stream: StandardStream = carry.readInteger(as: UInt8.self) == 2 ? .stderr : .stdout
                    carry.moveReaderIndex(forwardBy: 4)
                    lines.append(LogLine(step: step, stream: stream, bytes: carry.readBytes(length: Int(length)) ?? []))
                    if lines.count == 1000 {
                        await body(lines)
                        lines = []
                    }
                }
                carry.discardReadBytes()
            }
        }
        if !lines.isEmpty { await body(lines) }
    }
}

/// Passes everything on to `observer`, and step `step`'s lines to `tape` too.
struct TapingObserver<Observer: JobObserver>: JobObserver {
    let observer: Observer
    let tape: LogTape
    let step: Int

    func jobDidChange(_ state: JobState) async { await observer.jobDidChange(state) }

    func jobDidLog(_ lines: [LogLine]) async {
        await tape.record(lines.filter { $0.step == step })
        await observer.jobDidLog(lines)
    }

    func jobDidPull(step: Int, progress: String) async { await observer.jobDidPull(step: step, progress: progress) }
}
