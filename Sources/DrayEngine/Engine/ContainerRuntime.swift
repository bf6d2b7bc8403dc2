import NIOCore
import NIOFileSystem

/// What runs a step's container. `DockerRuntime` is the real one; tests of pure engine
/// logic use a fake.
public protocol ContainerRuntime: Sendable {
    /// Makes sure `image` is present: pulls it when it is missing, or always when `refresh`.
    /// Throws a ``DrayError`` with code `imageNotFound` when it cannot be had.
    func prepareImage(
        _ image: ImageReference,
        refresh: Bool,
        progress: @escaping @Sendable (String) async -> Void
    ) async throws

    /// The id of a prepared image (its content, not its tag), for a step's cache key.
    func imageID(_ image: ImageReference) async throws -> String

    /// Runs one container to its end and removes it, whatever happens. When the calling task
    /// is canceled, the container gets SIGTERM, then SIGKILL after `spec.stopGracePeriod`.
    ///
    /// Streams `spec.stdin` into the container's standard input, then closes it; a container
    /// that stops reading early is not an error. Calls `output` with every chunk the container
    /// writes, in order. When `spec.outputFile` is set, copies that file out to its local path
    /// after the container exits with code 0.
    /// - Returns: The container's exit code.
    func run(
        _ spec: ContainerSpec,
        output: (OutputChunk) async throws -> Void
    ) async throws -> Int32

    /// Throws when the runtime cannot be reached; for readiness checks.
    func ping() async throws

    /// The containers that carry a `dray.job` label, running or not.
    func jobContainers() async throws -> [JobContainer]

    /// Stops and removes a container.
    func removeContainer(_ id: String) async throws

    /// A hint that `spec` is a container `run` will soon be asked for (the next step of a chain):
    /// the runtime may make it now, while the step before runs, and start that one when `run`
    /// gets the same container. ``settle(job:)`` removes one that never ran.
    func prepare(_ spec: ContainerSpec)

    /// Returns once every container `run` started for job `id` is removed. A runtime may remove
    /// a finished container in the background, off the next step's path; the runner calls this
    /// when the job's last step has ended, before it reports the job's end.
    func settle(job id: String) async
}

extension ContainerRuntime {
    public func prepare(_ spec: ContainerSpec) {}

    public func settle(job id: String) async {}
}

/// A container Dray started for a job.
public struct JobContainer: Sendable, Equatable {
    public var id: String
    /// The job it belongs to: its `dray.job` label.
    public var jobID: String
    /// The node that started it: its `dray.node` label, nil on containers made before nodes.
    public var node: String?

    public init(id: String, jobID: String, node: String? = nil) {
        self.id = id
        self.jobID = jobID
        self.node = node
    }
}

/// One container to run.
public struct ContainerSpec: Sendable {
    public var image: ImageReference
    /// `NAME=value` strings.
    public var environment: [String]
    public var labels: [String: String]
    /// A local file streamed into standard input, or nil for an empty input.
    public var stdin: FilePath?
    /// In a streaming job: the pipe from the step before, read into standard input instead.
    public var stdinPipe: BytePipe?
    /// A file the container writes, at an absolute path inside it, to copy to a local path.
    public var outputFile: OutputFile?
    /// Local files put into the container before it starts, each at an absolute path (a graph
    /// step's `files` inputs).
    public var inputFiles: [InputFile] = []
    /// When the run is canceled: seconds between SIGTERM and SIGKILL.
    public var stopGracePeriod: Double
    /// `docker run`'s options, as the step and the server's defaults give them.
    public var options = StepOptions()

    public struct InputFile: Sendable, Equatable {
        public var containerPath: String
        public var localPath: FilePath

        public init(containerPath: String, localPath: FilePath) {
            self.containerPath = containerPath
            self.localPath = localPath
        }
    }

    public struct OutputFile: Sendable {
        public var containerPath: String
        public var localPath: FilePath

        public init(containerPath: String, localPath: FilePath) {
            self.containerPath = containerPath
            self.localPath = localPath
        }
    }

    public init(
        image: ImageReference,
        environment: [String] = [],
        labels: [String: String] = [:],
        stdin: FilePath? = nil,
        outputFile: OutputFile? = nil,
        stopGracePeriod: Double = Step.defaultStopGracePeriod
    ) {
        self.image = image
        self.environment = environment
        self.labels = labels
        self.stdin = stdin
        self.outputFile = outputFile
        self.stopGracePeriod = stopGracePeriod
    }
}

/// Bytes a container wrote to one of its streams.
public struct OutputChunk: Sendable {
    public var stream: StandardStream
    public var bytes: ByteBuffer

    public init(stream: StandardStream, bytes: ByteBuffer) {
        self.stream = stream
        self.bytes = bytes
    }
}
