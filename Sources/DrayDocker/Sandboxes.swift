import DockerClient
import DrayEngine
import Logging
import NIOCore
import Synchronization

/// A sandbox container per job, whose network namespace the job's steps join, as a Kubernetes
/// pod's containers join its pause container's.
///
/// The engine sets up a bridge network for every container it starts (a namespace, a veth pair,
/// an address): a third of a trivial step's start. With a sandbox, the job pays that once, and
/// each step joins a network that is already there. The steps still get the network a step
/// gets by default (the engine's bridge) and still run one after another; they share one
/// address and one `localhost`, as a pod's containers do. A step that names its own network
/// (`network: none`, a network's name, or `bridge` said outright) keeps it.
///
/// The sandbox runs ``PauseImage``, which Dray imports into the engine the first time. When no
/// sandbox can be had (the engine refuses the image, an architecture without a built-in one),
/// the steps get networks of their own, as without, and a warning says why.
final class Sandboxes: Sendable {
    private let client: DockerClient
    /// Labels every sandbox gets besides `dray.job` and `dray.sandbox` (`dray.node`).
    private let labels: [String: String]
    /// The sandbox of each job that has one (or is getting one): its container, or nil when it
    /// could not be had.
    private let sandboxes = Mutex<[String: Task<Sandbox?, Never>]>([:])

    /// A job's sandbox: its container, created, and its start, which a step's create need not
    /// wait for (Docker's takes `container:ID` of a container not yet running), only its start.
    private struct Sandbox {
        let id: String
        /// Whether it started.
        let started: Task<Bool, Never>
    }
    /// Whether the pause image is in the engine: looked up, or imported, once.
    private let image = Mutex<Task<ImageState, Never>?>(nil)
    /// Whether a started sandbox is kept ready for the next job (a server's: see ``Spare``).
    private let keepsSpare: Bool
    private let spare = Mutex(Spare())

    /// The sandbox made ready for the next job, labeled `dray.sandbox: spare` (and the node's
    /// labels), not a job's: its start, the engine's longest call of a trivial job (it sets up
    /// the network), is then off the job's path. A job takes it; the next is made when a job
    /// ends, off the path of any job's end; the server's stop removes it.
    private struct Spare {
        var task: Task<String?, Never>?
        /// Whether the spares an earlier run of this node left were looked for.
        var swept = false
    }

    private enum ImageState {
        case ready
        /// Tried again for the next job: the engine may answer then.
        case failed
        /// Never tried again: there is no built-in image for the engine's architecture.
        case unavailable
    }

    init(client: DockerClient, labels: [String: String], keepsSpare: Bool = false) {
        self.client = client
        self.labels = labels
        self.keepsSpare = keepsSpare
    }

    /// The network mode of a step of job `job` that keeps the default network:
    /// `container:SANDBOX`, with the job's sandbox created at the first call, and started
    /// beside it; nil when there is no sandbox for it. A step made in it waits for ``ready(job:)``
    /// before it starts. (Podman's create wants the sandbox running: with Podman it is started
    /// first.) The sandbox is made in a task of its own, which the calling task's cancellation
    /// does not cut short, so that it is always known, and removed.
    func networkMode(job: String) async -> String? {
        let sandbox = sandboxes.withLock { sandboxes in
            if let sandbox = sandboxes[job] { return sandbox }
            let sandbox = Task { await self.create(job: job) }
            sandboxes[job] = sandbox
            return sandbox
        }
        guard let made = await sandbox.value else { return nil }
        if client.isPodman, await !made.started.value { return nil }
        return "container:\(made.id)"
    }

    /// Whether job `job`'s sandbox runs, once its start has ended; true for a job without one.
    func ready(job: String) async -> Bool {
        guard let sandbox = sandboxes.withLock({ $0[job] }), let made = await sandbox.value else { return true }
        return await made.started.value
    }

    /// Forgets job `job`'s sandbox and returns its container, for the caller to remove; makes
    /// the next spare.
    func take(job: String) async -> String? {
        guard let made = await sandboxes.withLock({ $0.removeValue(forKey: job) })?.value else { return nil }
        _ = await made.started.value
        if keepsSpare { makeSpare() }
        return made.id
    }

    /// Removes the spare, for the server's stop.
    func removeSpare() async {
        let task = spare.withLock { $0.task.take() }
        if let id = await task?.value { try? await client.removeContainer(id) }
    }

    /// Starts making a spare, unless there is one. The first time, removes the spares an earlier
    /// run of this node left (it was killed): no job of this run has taken one yet.
    private func makeSpare() {
        spare.withLock { spare in
            guard spare.task == nil else { return }
            let sweep = !spare.swept
            spare.swept = true
            spare.task = Task {
                if sweep { await self.removeLeftSpares() }
                return await self.start(labels: ["dray.sandbox": "spare"])
            }
        }
    }

    private func removeLeftSpares() async {
        guard let left = try? await client.listContainers(label: "dray.sandbox=spare") else { return }
        for container in left where container.labels?["dray.node"] == labels["dray.node"] {
            try? await client.removeContainer(container.id)
        }
    }

    /// The spare, when there is one and it still runs (an engine that restarted ended it).
    private func takeSpare() async -> String? {
        guard keepsSpare, let task = spare.withLock({ $0.task.take() }), let id = await task.value else { return nil }
        let running = try? await client.listContainers(label: "dray.sandbox=spare").contains {
            $0.id == id && $0.state == "running"
        }
        if running == true { return id }
        try? await client.removeContainer(id)
        return nil
    }

    private func create(job: String) async -> Sandbox? {
        if let id = await takeSpare() { return Sandbox(id: id, started: Task { true }) }
        guard
            let id = await create(
                labels: ["dray.job": job, "dray.sandbox": "true"],
                failure: "cannot create job \(job)'s sandbox", then: "; its steps get networks of their own")
        else {
            return nil
        }
        let client = self.client
        let started = Task {
            do throws(DockerClientError) {
                try await client.startContainer(id)
                return true
            } catch {
                client.logger.warning(
                    "cannot start job \(job)'s sandbox: \(error.message); its steps get networks of their own")
                return false
            }
        }
        return Sandbox(id: id, started: started)
    }

    /// A spare: created and started; nil when it cannot be had (the next job makes its own).
    private func start(labels own: [String: String]) async -> String? {
        guard let id = await create(labels: own, failure: "cannot create a spare sandbox") else { return nil }
        do {
            try await client.startContainer(id)
            return id
        } catch {
            client.logger.warning("cannot start a spare sandbox: \(error.message)")
            try? await client.removeContainer(id)
            return nil
        }
    }

    /// Creates a sandbox with these labels beside the node's; nil when it cannot, with a warning
    /// that says `failure`, the engine's reason, and `then`.
    private func create(labels own: [String: String], failure: String, then: String = "") async -> String? {
        guard await imageIsReady() else { return nil }
        var request = ContainerCreateRequest(
            image: PauseImage.reference, env: [], labels: labels.merging(own) { _, sandbox in sandbox })
        request.openStdin = false
        request.stdinOnce = false
        request.attachStdin = false
        request.attachStdout = false
        request.attachStderr = false
        do {
            return try await client.createContainer(request)
        } catch {
            client.logger.warning("\(failure): \(error.message)\(then)")
            return nil
        }
    }

    private func imageIsReady() async -> Bool {
        let lookup = image.withLock { image in
            if let image { return image }
            let lookup = Task { await self.prepareImage() }
            image = lookup
            return lookup
        }
        let state = await lookup.value
        if state == .failed { image.withLock { if $0 == lookup { $0 = nil } } }
        return state == .ready
    }

    private func prepareImage() async -> ImageState {
        do {
            if try await client.imageExists(PauseImage.reference) { return .ready }
            let architecture = try await client.version().arch ?? "?"
            guard let executable = PauseImage.executable(architecture: architecture) else {
                client.logger.notice(
                    "no sandbox image for the engine's architecture \(architecture): each step gets a network of its own"
                )
                return .unavailable
            }
            try await client.importImage(
                Tar.file(at: PauseImage.path, contents: executable, mode: 0o555), repository: PauseImage.repository,
                tag: PauseImage.tag, changes: [#"CMD ["\#(PauseImage.path)"]"#])
            return .ready
        } catch {
            client.logger.warning(
                "cannot import the sandbox image \(PauseImage.reference): \(error.message); steps get networks of their own"
            )
            return .failed
        }
    }
}

/// The image of a job's sandbox: one static executable that waits for a signal, forever, and
/// does nothing else. Dray makes it itself (no registry needed): a minimal ELF file whose code
/// is a loop around `pause()` (x86-64) or `ppoll()` with nothing to poll (arm64, which has no
/// `pause`). A removal with force (SIGKILL) ends it.
enum PauseImage {
    static let repository = "dray/pause"
    /// Bumped when the executable changes.
    static let tag = "1"
    static let path = "/pause"
    static var reference: String { "\(repository):\(tag)" }

    /// The executable for an engine of architecture `architecture` (as Go names it), or nil.
    static func executable(architecture: String) -> [UInt8]? {
        switch architecture {
        case "amd64", "x86_64":
            // loop: mov eax, 34 (pause); syscall; jmp loop
            elf(machine: 0x3e, code: [0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7])
        case "arm64", "aarch64":
            // loop: mov x0..x3, #0; mov x8, #73 (ppoll); svc #0; b loop
            elf(
                machine: 0xb7,
                code: [0xd280_0000, 0xd280_0001, 0xd280_0002, 0xd280_0003, 0xd280_0928, 0xd400_0001, 0x17ff_fffa]
                    .flatMap { littleEndian($0, size: 4) })
        default:
            nil
        }
    }

    /// A 64-bit little-endian ELF executable of one loaded segment (read and execute) that
    /// starts at `code`.
    static func elf(machine: UInt16, code: [UInt8]) -> [UInt8] {
        let base: UInt64 = 0x40_0000
        let headers: UInt64 = 64 + 56
        let size = headers + UInt64(code.count)
        var file: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + Array(repeating: 0, count: 8)
        // e_type (executable), e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags
        file += littleEndian(2, size: 2) + littleEndian(UInt64(machine), size: 2) + littleEndian(1, size: 4)
        file += littleEndian(base + headers, size: 8) + littleEndian(64, size: 8) + littleEndian(0, size: 8)
        file += littleEndian(0, size: 4)
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        file += [64, 56, 1, 0, 0, 0].flatMap { littleEndian($0, size: 2) }
        // The program header: PT_LOAD, read and execute, the whole file at `base`.
        file += littleEndian(1, size: 4) + littleEndian(5, size: 4) + littleEndian(0, size: 8)
        file += littleEndian(base, size: 8) + littleEndian(base, size: 8)
        file += littleEndian(size, size: 8) + littleEndian(size, size: 8) + littleEndian(0x1000, size: 8)
        return file + code
    }

    private static func littleEndian(_ value: UInt64, size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}
