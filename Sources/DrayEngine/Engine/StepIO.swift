import Foundation
import NIOCore
import NIOFileSystem
import Synchronization

/// What a step reads: nothing (a root), a spool (a chain's step, or one need), a pipe (a
/// streaming step), several inputs one after the other (`concat`), or files in its container.
public enum StepInput: Sendable {
    case none
    case spool(FilePath)
    case pipe(BytePipe)
    case concat([Part])
    /// Each as `/dray/inputs/<name>` in the container; stdin is empty.
    case files([(name: String, path: FilePath)])

    /// The digest of each input, in order, with its name for `files`, for a step's cache key.
    /// A pipe has none before it has been read: a streaming step is not cached.
    func digests() async throws -> [(name: String, digest: SpoolDigest)] {
        func digest(_ path: FilePath) async throws -> SpoolDigest {
            guard let digest = await SpoolDigest.of(path) else {
                throw DrayError(.storage, "cannot read the spooled input \(path) to take its digest")
            }
            return digest
        }
        switch self {
        case .none: return []
        case .spool(let path): return [("", try await digest(path))]
        case .files(let files):
            var digests: [(String, SpoolDigest)] = []
            for (name, path) in files { digests.append((name, try await digest(path))) }
            return digests
        case .concat(let parts):
            var digests: [(String, SpoolDigest)] = []
            for part in parts {
                guard case .spool(let path, nil) = part else {
                    throw DrayError(.invalidJob, "a streaming step's input cannot be cached")
                }
                digests.append(("", try await digest(path)))
            }
            return digests
        case .pipe: throw DrayError(.invalidJob, "a streaming step's input cannot be cached")
        }
    }

    /// Where `files` inputs are put in the container.
    public static let folder = "/dray/inputs"

    /// One input of a `concat`: a live pipe, or a spool read once its producer has ended
    /// (`ready` says whether it completed; nil when it already has).
    public enum Part: Sendable {
        case pipe(BytePipe)
        case spool(FilePath, ready: StepCompletion?)
    }

    /// Writes `parts` one after the other into `pipe`, then ends it. A producer that did not
    /// complete ends the feed there: its job is failing, and the step is stopped.
    static func feed(_ parts: [Part], into pipe: BytePipe) async {
        defer { pipe.finish() }
        for part in parts {
            if Task.isCancelled { return }
            switch part {
            case .pipe(let source):
                for await chunk in source { await pipe.write(chunk) }
            case .spool(let path, let ready):
                if let ready, await !ready.value() { return }
                do {
                    try await FileSystem.shared.withFileHandle(forReadingAt: path) { handle in
                        for try await chunk in handle.readChunks() {
                            try Task.checkCancellation()
                            await pipe.write(chunk)
                        }
                    }
                } catch {
                    return
                }
            }
        }
    }
}

/// Where a step's selected output goes: its spool (the default), pipes that steps read as it
/// runs, or both; and its tap, which counts it and shows it to whoever taps the edge.
public struct StepOutput: Sendable {
    public var pipes: [BytePipe] = []
    public var spool = true
    public var tap: EdgeTap
    /// When the step's container wrote its first byte, on either stream.
    public let firstByte = FirstByte()

    public init(pipes: [BytePipe] = [], spool: Bool = true, tap: EdgeTap = EdgeTap()) {
        self.pipes = pipes
        self.spool = spool
        self.tap = tap
    }
}

/// When a step's first output byte was read: marked by the first chunk, read at the step's end.
public final class FirstByte: Sendable {
    private let time = Mutex<Date?>(nil)

    public init() {}

    /// Marks now, unless marked before.
    func mark() {
        let now = Date()
        time.withLock { $0 = $0 ?? now }
    }

    /// The time it was marked, if it was.
    public var at: Date? { time.withLock { $0 } }
}

/// Says once whether a step completed (exited 0), to every step of a streaming graph that waits
/// for its spool.
public typealias StepCompletion = Once<Bool>

/// A job's state, owned by the one task that runs a chain, which its steps' events change.
final class StateCell {
    var state: JobState

    init(_ state: JobState) {
        self.state = state
    }
}

extension JobState {
    /// Applies what happened to step `index`; true when the change is one to record now (a
    /// step prepared, running, or about to retry), as a chain always has.
    @discardableResult
    mutating func apply(_ event: JobRunner.StepEvent, to index: Int) -> Bool {
        switch event {
        case .preparing(let fresh):
            preparing(step: index, fresh: fresh)
            return true
        case .running:
            running(step: index)
            return true
        case .attempt(let exitCode, let retrying, let firstByteAt):
            steps[index].attempts?.append(exitCode)
            steps[index].firstByteAt = firstByteAt
            if exitCode != 0 { steps[index].exitCode = exitCode }
            return retrying
        case .succeeded(let bytes, let lines):
            stepSucceeded(index, outputBytes: bytes, outputLines: lines)
            return false
        case .failed(let message, let reason):
            fail(message, reason: reason)
            return false
        case .cached(let origin):
            steps[index].cached = origin
            return false
        }
    }
}
