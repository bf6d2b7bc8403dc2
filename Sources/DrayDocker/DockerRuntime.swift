import AsyncHTTPClient
import DockerClient
import DrayEngine
import Logging
import NIOCore
import NIOFileSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The ``ContainerRuntime`` that runs steps on a Docker engine through ``DockerClient``.
public struct DockerRuntime: ContainerRuntime {
    public let client: DockerClient
    /// Removals of finished containers still under way, by job.
    private let removals = Removals()
    /// Containers made ahead of their step (see ``prepare(_:)``), by job and step.
    private let ahead = Ahead()

    /// Where registry logins come from; nil sends none.
    public let logins: RegistryLogins?

    /// Labels every container gets besides the step's own (`dray.node`).
    public let labels: [String: String]

    /// Each job's sandbox, whose network its steps join; nil gives every step a network of its
    /// own, as `docker run` does.
    private let sandboxes: Sandboxes?

    /// - Parameters:
    ///   - sandbox: Whether each job gets a sandbox container whose network its steps join (see
    ///     ``Sandboxes``), rather than a network of its own per step.
    ///   - spareSandbox: Whether a started sandbox is kept ready for the next job (a server's
    ///     runtime, which ``shutdown()`` ends).
    public init(
        client: DockerClient, logins: RegistryLogins? = nil, labels: [String: String] = [:], sandbox: Bool = true,
        spareSandbox: Bool = false
    ) {
        self.client = client
        self.logins = logins
        self.labels = labels
        sandboxes = sandbox ? Sandboxes(client: client, labels: labels, keepsSpare: spareSandbox) : nil
    }

    /// Removes what the runtime keeps between jobs (the spare sandbox), for the server's stop.
    public func shutdown() async {
        await sandboxes?.removeSpare()
    }

    public func prepareImage(
        _ image: ImageReference,
        refresh: Bool,
        progress: @escaping @Sendable (String) async -> Void
    ) async throws {
        let verb = refresh ? "could not be refreshed" : "not found"
        var login: RegistryLogins.Login?
        do {
            if !refresh, try await client.imageExists(image.description) { return }
            login = try await logins?.login(for: image.registry)
            try await client.pullImage(image.repository, tag: image.pullTag, registryAuth: login?.header) {
                await progress($0.text)
            }
        } catch {
            var message = error.message
            if Self.isLoginRefusal(message) {
                let registry = image.registry
                message =
                    if login != nil, let logins {
                        "the registry \(registry) refused the login for it in \(logins.path) (\(message))"
                    } else {
                        "pulling from \(registry) needs a login, and there is none for it"
                            + (logins.map { " in \($0.path)" } ?? "")
                            + ": run `docker login \(registry)` (dray serve: or give --registry-config) (\(message))"
                    }
            }
            throw DrayError(.imageNotFound, "image \(image) \(verb): \(message)", cause: error)
        }
    }

    public func imageID(_ image: ImageReference) async throws -> String {
        try await engineCall("inspect the image \(image)") { try await client.imageID(image.description) }
    }

    /// The engine's words when a registry wants a login, or refused the one it got.
    static func isLoginRefusal(_ message: String) -> Bool {
        let lower = message.lowercased()
        return ["no basic auth credentials", "unauthorized", "authentication required", "denied"].contains {
            lower.contains($0)
        }
    }

    /// The create call for a step: its image, environment, labels and `docker run` options.
    /// `keepingLog` keeps the engine's own log of the output (see ``recoverOutput(of:after:output:)``).
    static func createRequest(_ spec: ContainerSpec, keepingLog: Bool = false) -> ContainerCreateRequest {
        var request = ContainerCreateRequest(image: spec.image.description, env: spec.environment, labels: spec.labels)
        if keepingLog { request.hostConfig.logConfig = nil }
        let options = spec.options
        request.cmd = options.command
        request.entrypoint = options.entrypoint
        request.workingDir = options.workingDir
        request.user = options.user
        request.hostConfig.memory = options.memory?.bytes
        request.hostConfig.nanoCpus = options.cpus.map { Int64(($0 * 1e9).rounded()) }
        request.hostConfig.pidsLimit = options.pidsLimit.map(Int64.init)
        request.hostConfig.networkMode = options.network
        return request
    }

    /// The create call for `spec` on this engine: with the node's labels, and the job's sandbox.
    private func request(for spec: ContainerSpec) async -> ContainerCreateRequest {
        var request = Self.createRequest(spec, keepingLog: client.isPodman)
        request.labels.merge(labels) { step, _ in step }
        if spec.options.network == nil, let sandboxes, let job = spec.labels["dray.job"] {
            request.hostConfig.networkMode = await sandboxes.networkMode(job: job)
        }
        return request
    }

    /// Creates the container of `spec` now, in the background (with the job's sandbox, when it
    /// has none yet), for ``run(_:output:)`` to start when it is asked for the same container.
    public func prepare(_ spec: ContainerSpec) {
        guard let job = spec.labels["dray.job"], let step = spec.labels["dray.step"] else { return }
        let client = self.client
        // Not canceled with the caller: a container made is always known, and removed.
        let made = Task<Made, Never> {
            let request = await self.request(for: spec)
            return Made(request: request, id: try? await client.createContainer(request))
        }
        if let replaced = ahead.put(made, job: job, step: step) { discard(replaced, job: job) }
    }

    public func run(_ spec: ContainerSpec, output: (OutputChunk) async throws -> Void) async throws -> Int32 {
        let request = await request(for: spec)
        // A container made ahead for this very call is taken; one made for another is removed.
        var made: String?
        if let job = spec.labels["dray.job"], let step = spec.labels["dray.step"],
            let ahead = ahead.take(job: job, step: step)
        {
            let early = await ahead.value
            if early.request == request { made = early.id } else { discard(ahead, job: job) }
        }
        var id: String
        if let made { id = made } else { id = try await create(request, of: spec) }
        // A step in the job's sandbox starts once the sandbox runs; if it could not start, the
        // step gets a network of its own.
        if let sandboxes, let job = spec.labels["dray.job"], request.hostConfig.networkMode != spec.options.network,
            await !sandboxes.ready(job: job)
        {
            await remove(id)
            var own = request
            own.hostConfig.networkMode = spec.options.network
            id = try await create(own, of: spec)
        }
        for orphan in removals.takeKeptForLater() {
            Task { await self.remove(orphan) }
        }
        do {
            try Task.checkCancellation()
            let exitCode = try await run(created: id, spec, output: output)
            // The container has exited and its output is in: the next step need not wait for
            // its removal. settle(job:) waits for it at the job's end.
            let remove = Task { await self.remove(id) }
            removals.add(remove, job: spec.labels["dray.job"] ?? "")
            return exitCode
        } catch {
            // A started step was stopped by its ``Stopper`` (SIGTERM, SIGKILL at the grace's
            // end); one that never started needs no stop: the forced removal ends either.
            await remove(id)
            throw error
        }
    }

    /// Creates a container. The create call is not canceled half-way: the engine might create a
    /// container whose id we would never learn, and could not remove.
    private func create(_ request: ContainerCreateRequest, of spec: ContainerSpec) async throws -> String {
        let client = self.client
        switch await Task(operation: { try await client.createContainer(request) }).result {
        case .success(let created):
            return created
        case .failure(let error):
            throw DrayError(.runtime, "cannot create a container of \(spec.image): \(error)", cause: error)
        }
    }

    /// Every step has ended: the removals of its containers, of those made ahead that did not
    /// run, and of its sandbox go on side by side. (Docker removes a sandbox that containers
    /// still being removed joined; Podman refuses to, so there the sandbox goes after them.)
    public func settle(job id: String) async {
        let removeSandbox = { @Sendable in
            if let sandbox = await self.sandboxes?.take(job: id) { await self.remove(sandbox) }
        }
        let podman = client.isPodman
        await withTaskGroup { group in
            for made in ahead.take(job: id) {
                group.addTask { if let container = await made.value.id { await self.remove(container) } }
            }
            for removal in removals.take(job: id) { group.addTask { await removal.value } }
            if !podman { group.addTask { await removeSandbox() } }
        }
        if podman { await removeSandbox() }
    }

    public func ping() async throws {
        try await engineCall("reach the Docker engine") { try await client.ping() }
    }

    public func jobContainers() async throws -> [JobContainer] {
        try await engineCall("list containers") {
            try await client.listContainers(label: "dray.job").compactMap { container in
                container.labels?["dray.job"].map {
                    JobContainer(id: container.id, jobID: $0, node: container.labels?["dray.node"])
                }
            }
        }
    }

    public func removeContainer(_ id: String) async throws {
        do {
            try await client.removeContainer(id)
        } catch {
            if error.isNotFound { return }
            throw DrayError(.runtime, "cannot remove container \(id): \(error.message)", cause: error)
        }
    }

    /// Removes a container made ahead that will not run, in the background; the job's
    /// ``settle(job:)`` waits for it.
    private func discard(_ made: Task<Made, Never>, job: String) {
        let removal = Task {
            if let container = await made.value.id { await self.remove(container) }
        }
        removals.add(removal, job: job)
    }

    /// Removes a container, even when the calling task was canceled.
    /// One that cannot be removed (the engine went away) is removed when a later step's
    /// container is created, once the engine answers again.
    private func remove(_ id: String) async {
        let removed = await shielded("remove", id, level: .warning) { try await $0.removeContainer(id) }
        if !removed { removals.keepForLater(id) }
    }

    /// Makes an engine call about container `id` that the calling task's cancellation cannot
    /// cut short. A container already gone is no error; another failure is logged at `level`.
    /// Returns false when the call failed.
    @discardableResult
    private func shielded(
        _ verb: String, _ id: String, level: Logger.Level,
        _ call: @escaping @Sendable (DockerClient) async throws -> Void
    ) async -> Bool {
        let client = self.client
        return await Task {
            do {
                try await call(client)
            } catch let error as DockerClientError where !error.isNotFound {
                client.logger.log(level: level, "cannot \(verb) container \(id): \(error.message)")
                return false
            } catch {}
            return true
        }.value
    }

    private func run(created id: String, _ spec: ContainerSpec, output: (OutputChunk) async throws -> Void)
        async throws -> Int32
    {
        if let file = spec.outputFile {
            try await engineCall("create the output file \(file.containerPath)") {
                try await client.putArchive(id, path: "/", tar: Tar.emptyFile(at: file.containerPath))
            }
        }
        if !spec.inputFiles.isEmpty {
            let archive = try await InputArchive(spec.inputFiles)
            try await engineCall("put the step's input files into the container") {
                try await client.putArchive(id, path: "/", body: archive.body)
            }
        }
        let attachment = try await engineCall("attach to the container") { try await client.attach(id) }
        // The attach stream is read by a task of its own, which a cancel does not reach: a
        // cancel (or a timeout, or a shutdown) stops the container, SIGTERM then SIGKILL at the
        // grace's end, and what the step prints until it has stopped is still passed on.
        let frames = Handoff<FrameDecoder.Frame>()
        let stopper = Stopper(client: client, id: id, grace: spec.stopGracePeriod)
        let reader = Task {
            defer { frames.finish() }
            return try await Self.read(attachment, of: id, spec, client: client, stopper: stopper, into: frames)
        }
        var received = StreamCounts()
        do {
            try await withTaskCancellationHandler {
                while let frame = await frames.next() {
                    received[frame.standardStream] += frame.payload.readableBytes
                    try await output(OutputChunk(stream: frame.standardStream, bytes: frame.payload))
                }
            } onCancel: {
                stopper.stop()
            }
        } catch {
            // The output could not be passed on (a full spool): the reading stops, and the
            // caller removes the container.
            frames.close()
            reader.cancel()
            _ = await reader.result
            throw error
        }
        let started: Bool
        var cutShort: Bool
        do {
            (started, cutShort) = try await reader.value
        } catch let error as DrayError {
            throw error
        } catch {
            throw DrayError(.runtime, "cannot read the container's output: \(error)", cause: error)
        }
        await stopper.wait()
        guard started else { throw CancellationError() }
        // The wait tells an exited step from an engine that went away.
        let exitCode = try await engineCall("wait for the container") {
            try await Task { try await client.waitContainer(id) }.value
        }
        // An engine that stops closes its listener, then kills its containers: a step killed
        // by a signal whose engine no longer takes connections was ended by the engine going
        // away, not by its own fault.
        if exitCode > 128 && !Task.isCancelled {
            do {
                try await client.checkListening()
            } catch {
                throw DrayError(
                    .runtime,
                    "the Docker engine went away while the step ran (its container ended with code \(exitCode)): \(error.message)",
                    cause: error)
            }
        }
        if cutShort {
            try await recoverOutput(of: id, after: received, output: output)
        }
        // A canceled step was stopped: its output is in, its end is the cancel's.
        try Task.checkCancellation()
        if exitCode == 0, let file = spec.outputFile {
            try await copyOut(file, from: id)
        }
        return Int32(truncatingIfNeeded: exitCode)
    }

    /// Starts the container (unless it was stopped first), writes its stdin and hands its
    /// output frames to `frames` until the attach stream ends. Returns whether it was started,
    /// and whether the stream was cut short, so that the rest is to be read from the log.
    private static func read(
        _ attachment: AttachChannel, of id: String, _ spec: ContainerSpec, client: DockerClient,
        stopper: Stopper, into frames: Handoff<FrameDecoder.Frame>
    ) async throws -> (started: Bool, cutShort: Bool) {
        var cutShort = false
        var started = false
        try await attachment.executeThenClose { inbound, outbound in
            guard stopper.mayStart() else {
                outbound.finish()
                return
            }
            do {
                try await client.startContainer(id)
            } catch let error as DockerClientError {
                throw DrayError(.runtime, "cannot start the container: \(error.message)", cause: error)
            }
            started = true
            stopper.didStart()
            try await withThrowingTaskGroup { group in
                group.addTask {
                    if let pipe = spec.stdinPipe {
                        await Self.write(pipe, to: outbound)
                    } else {
                        await Self.write(spec.stdin, to: outbound)
                    }
                }
                var decoder = FrameDecoder()
                // When a step exits with stdin left unread (`head -c 5`), Podman ends the attach
                // connection (with a reset, or not) at times before it forwarded all the output,
                // and its last frame is then its own error, on stderr. A frame that looks like
                // that error waits for the next one: it is the step's own only if more follows.
                // Either ending means the rest is read from the container's log.
                var held: FrameDecoder.Frame?
                let isPodman = client.isPodman
                do {
                    reading: for try await bytes in inbound {
                        for frame in decoder.feed(bytes) {
                            if let earlier = held.take() {
                                guard await frames.push(earlier) else { break reading }
                            }
                            if isPodman && Self.isPodmanAttachError(frame) {
                                held = frame
                            } else {
                                guard await frames.push(frame) else { break reading }
                            }
                        }
                    }
                    if held != nil { cutShort = true }
                } catch let error as IOError where error.errnoCode == ECONNRESET {
                    cutShort = true
                }
                group.cancelAll()
                try await group.waitForAll()
            }
        }
        return (started, cutShort)
    }

    /// Podman's message when its copy of stdin into the exited container failed:
    /// `Error: write unixpacket @->/proc/self/fd/15/attach: write: connection reset by peer`, or
    /// `…: write: broken pipe` when the container had closed its end first (seen on CI).
    static func isPodmanAttachError(_ frame: FrameDecoder.Frame) -> Bool {
        guard frame.standardStream == .stderr, frame.payload.readableBytes < 256,
            frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt8.self) == UInt8(ascii: "E")
        else { return false }
        let text = String(buffer: frame.payload)
        return text.hasPrefix("Error: ") && text.contains(" unixpacket ")
            && (text.hasSuffix("connection reset by peer\n") || text.hasSuffix("broken pipe\n"))
    }

    /// Passes on what the container wrote beyond the first `received` bytes of each stream,
    /// read from the engine's log of the container, which holds all of it. Only Podman resets
    /// the attach connection, so only its containers keep a log (its default, `k8s-file`).
    private func recoverOutput(
        of id: String, after received: StreamCounts, output: (OutputChunk) async throws -> Void
    ) async throws {
        client.logger.debug("the attach connection to container \(id) was reset; reading the rest from its log")
        let log = try await engineCall("read the container's log after its attach connection was reset") {
            try await client.containerLogs(id)
        }
        var skip = received
        var frames = FrameDecoder()
        do {
            for try await bytes in log {
                for var frame in frames.feed(bytes) {
                    let stream = frame.standardStream
                    let skipped = min(skip[stream], frame.payload.readableBytes)
                    frame.payload.moveReaderIndex(forwardBy: skipped)
                    skip[stream] -= skipped
                    if frame.payload.readableBytes > 0 {
                        try await output(OutputChunk(stream: stream, bytes: frame.payload))
                    }
                }
            }
        } catch let error as DrayError {
            throw error
        } catch {
            throw DrayError(.runtime, "cannot read the log of container \(id): \(error)", cause: error)
        }
    }

    /// Streams `path` into the container's stdin, then closes it. A container that stops
    /// reading early closes the connection; that ends the writing, as SIGPIPE ends a shell pipe's.
    private static func write(_ path: FilePath?, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async {
        if let path {
            do {
                try await FileSystem.shared.withFileHandle(forReadingAt: path) { handle in
                    for try await chunk in handle.readChunks(chunkLength: .kibibytes(256)) {
                        try await outbound.write(chunk)
                    }
                }
            } catch {}
        }
        outbound.finish()
    }

    /// Streams what comes through `pipe` into the container's stdin, then closes it. When the
    /// container stops reading, or has ended, the pipe's writer is let go.
    private static func write(_ pipe: BytePipe, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async {
        do {
            for await chunk in pipe { try await outbound.write(chunk) }
        } catch {}
        pipe.closeReader()
        outbound.finish()
    }

    /// Copies the step's output file out of the stopped container through the archive API.
    private func copyOut(_ file: ContainerSpec.OutputFile, from id: String) async throws {
        let body: HTTPClientResponse.Body
        do {
            body = try await client.getArchive(id, path: file.containerPath)
        } catch {
            if error.isNotFound {
                throw DrayError(
                    .outputMissing, "output file \(file.containerPath) was not found in the container", cause: error)
            }
            throw DrayError(
                .runtime, "cannot copy \(file.containerPath) out of the container: \(error.message)", cause: error)
        }
        var reader = TarFileReader()
        do {
            try await FileSystem.shared.withFileHandle(
                forWritingAt: file.localPath, options: .newFile(replaceExisting: true)
            ) { handle in
                var writer = handle.bufferedWriter(capacity: .kibibytes(256))
                for try await chunk in body {
                    try await reader.feed(chunk) { try await writer.write(contentsOf: $0) }
                }
                try reader.finish()
                try await writer.flush()
            }
        } catch TarFileReader.Problem.notAFile {
            throw DrayError(.outputMissing, "output \(file.containerPath) is not a regular file")
        } catch let problem as TarFileReader.Problem {
            throw DrayError(
                .outputMissing, "cannot read \(file.containerPath) from the container's archive: \(problem)")
        }
    }

    private func engineCall<T>(_ action: String, _ call: () async throws -> T) async throws -> T {
        do {
            return try await call()
        } catch let error as DockerClientError {
            throw DrayError(.runtime, "cannot \(action): \(error.message)", cause: error)
        }
    }
}

/// Bytes per stream, counted on every frame of the attach stream (two integers, not a dictionary).
struct StreamCounts {
    var stdout = 0
    var stderr = 0

    subscript(stream: StandardStream) -> Int {
        get { stream == .stderr ? stderr : stdout }
        set { if stream == .stderr { stderr = newValue } else { stdout = newValue } }
    }
}

/// A container made ahead of its step: the create call it was made with, and its id (nil when
/// the engine refused it: the step's own create call then says why).
struct Made: Sendable {
    var request: ContainerCreateRequest
    var id: String?
}

/// The containers made ahead of their steps, by job, then step: at most one a step.
private final class Ahead: Sendable {
    private let made = Mutex<[String: [String: Task<Made, Never>]]>([:])

    /// Keeps `task` for step `step` of job `job`; returns the one it replaces.
    func put(_ task: Task<Made, Never>, job: String, step: String) -> Task<Made, Never>? {
        made.withLock { $0[job, default: [:]].updateValue(task, forKey: step) }
    }

    func take(job: String, step: String) -> Task<Made, Never>? {
        made.withLock { $0[job]?.removeValue(forKey: step) }
    }

    func take(job: String) -> [Task<Made, Never>] {
        made.withLock { Array(($0.removeValue(forKey: job) ?? [:]).values) }
    }
}

/// Container removals running in the background, by job, until the job settles.
private final class Removals: Sendable {
    private let tasks = Mutex<[String: [Task<Void, Never>]]>([:])

    func add(_ task: Task<Void, Never>, job: String) {
        tasks.withLock { $0[job, default: []].append(task) }
    }

    func take(job: String) -> [Task<Void, Never>] {
        tasks.withLock { $0.removeValue(forKey: job) ?? [] }
    }

    /// Containers whose removal failed, to be tried again.
    private let later = Mutex<Set<String>>([])

    func keepForLater(_ id: String) {
        later.withLock { _ = $0.insert(id) }
    }

    func takeKeptForLater() -> Set<String> {
        later.withLock { kept in
            defer { kept.removeAll() }
            return kept
        }
    }
}

/// Stops one step's container once it is asked to, as `docker stop` does: SIGTERM, then SIGKILL
/// at the end of the grace period, whatever the step does. A stop asked for before the start
/// call has returned is sent once it has; one asked for before the start keeps it from starting.
private final class Stopper: Sendable {
    private let client: DockerClient
    private let id: String
    private let grace: Double
    private let state = Mutex<(started: Bool, asked: Bool, task: Task<Void, Never>?)>((false, false, nil))

    init(client: DockerClient, id: String, grace: Double) {
        self.client = client
        self.id = id
        self.grace = grace
    }

    /// False when a stop was asked for already: the container is then never started.
    func mayStart() -> Bool {
        state.withLock { !$0.asked }
    }

    func didStart() {
        state.withLock { state in
            state.started = true
            if state.asked { state.task = state.task ?? stopping() }
        }
    }

    func stop() {
        state.withLock { state in
            state.asked = true
            if state.started { state.task = state.task ?? stopping() }
        }
    }

    /// Waits until a stop that was sent has ended.
    func wait() async {
        await state.withLock { $0.task }?.value
    }

    private func stopping() -> Task<Void, Never> {
        let (client, id, grace) = (client, id, grace)
        return Task {
            do {
                try await client.stopContainer(id, timeout: Int(grace.rounded(.up)))
            } catch let error as DockerClientError where !error.isNotFound {
                client.logger.debug("cannot stop container \(id): \(error.message)")
            } catch {}
        }
    }
}

extension FrameDecoder.Frame {
    /// The step's stream that the frame came on: the engine's own errors count as stderr.
    var standardStream: StandardStream { isError ? .stderr : .stdout }
}
