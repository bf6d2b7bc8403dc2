import DrayEngine
import Foundation
import NIOCore
import NIOFileSystem
import Synchronization

/// A container runtime for the engine's own logic: each step's behaviour is a function of
/// its spec and its input.
public struct FakeRuntime: ContainerRuntime {
    /// What a step does: what it writes, how it exits, the file it leaves; or it runs until
    /// it is stopped (its task canceled), as a step that sleeps.
    public struct Outcome: Sendable {
        public var writes: [(StandardStream, String)]
        public var exitCode: Int32
        public var file: String?
        public var waitsUntilStopped: Bool

        public init(
            writes: [(StandardStream, String)] = [], exitCode: Int32 = 0, file: String? = nil,
            waitsUntilStopped: Bool = false
        ) {
            self.writes = writes
            self.exitCode = exitCode
            self.file = file
            self.waitsUntilStopped = waitsUntilStopped
        }
    }

    public let behaviour: @Sendable (ContainerSpec, String) throws -> Outcome
    public let record = Record()
    /// Every container the runner asked to be made ahead of its run, in order.
    public let prepared = Prepared()

    public final class Prepared: Sendable {
        private let specs = Mutex<[ContainerSpec]>([])
        func add(_ spec: ContainerSpec) { specs.withLock { $0.append(spec) } }
        public var all: [ContainerSpec] { specs.withLock { $0 } }
    }

    public init(behaviour: @escaping @Sendable (ContainerSpec, String) throws -> Outcome) {
        self.behaviour = behaviour
    }

    /// Every container spec run and every image prepared, in order.
    public actor Record {
        public var specs: [ContainerSpec] = []
        public var pulls: [(String, Bool)] = []
        func add(_ spec: ContainerSpec) { specs.append(spec) }
        func pull(_ image: String, _ refresh: Bool) { pulls.append((image, refresh)) }
    }

    /// The reference itself: a fake image's content is its name.
    public func imageID(_ image: ImageReference) async throws -> String {
        "fake:\(image.description)"
    }

    public func prepareImage(
        _ image: ImageReference, refresh: Bool, progress: @escaping @Sendable (String) async -> Void
    )
        async throws
    {
        await record.pull(image.description, refresh)
        if image.repository == "missing" { throw DrayError(.imageNotFound, "image \(image) not found") }
    }

    public func run(_ spec: ContainerSpec, output: (OutputChunk) async throws -> Void) async throws -> Int32 {
        await record.add(spec)
        var input = ""
        if let pipe = spec.stdinPipe {
            for await chunk in pipe { input += String(buffer: chunk) }
        } else if let stdin = spec.stdin {
            input = String(
                buffer: try await FileSystem.shared.withFileHandle(forReadingAt: stdin) {
                    try await $0.readToEnd(maximumSizeAllowed: .mebibytes(1))
                })
        }
        let outcome = try behaviour(spec, input)
        if outcome.waitsUntilStopped {
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
        for (stream, text) in outcome.writes {
            try await output(OutputChunk(stream: stream, bytes: ByteBuffer(string: text)))
        }
        if let file = spec.outputFile, let content = outcome.file, outcome.exitCode == 0 {
            try await FileSystem.shared.withFileHandle(
                forWritingAt: file.localPath, options: .newFile(replaceExisting: true)
            ) {
                _ = try await $0.write(contentsOf: ByteBuffer(string: content), toAbsoluteOffset: 0)
            }
        }
        return outcome.exitCode
    }

    public func prepare(_ spec: ContainerSpec) {
        prepared.add(spec)
    }

    public func ping() async throws {}
    public func jobContainers() async throws -> [JobContainer] { [] }
    public func removeContainer(_ id: String) async throws {}
}

/// Keeps every state and log line a job reports.
public actor RecordingObserver: JobObserver {
    public var states: [JobState] = []
    public var lines: [LogLine] = []
    public init() {}
    public func jobDidChange(_ state: JobState) { states.append(state) }
    public func jobDidLog(_ lines: [LogLine]) { self.lines += lines }
    public func jobDidPull(step: Int, progress: String) {}
}
