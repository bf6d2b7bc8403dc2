import ArgumentParser
import DrayDocker
import DrayEngine
import Foundation
import NIOCore
import NIOFileSystem

/// `dray run FILE|-`: runs a job in this process against `DOCKER_HOST`, with no server.
struct JobRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job here, with no server, and write its last step's output to stdout.",
        discussion: """
            The job file is JSON or YAML, in the shape `POST /jobs` takes. Log lines go to stderr \
            as they arrive, prefixed by their step; the last step's output goes to stdout, byte \
            for byte, so `dray run job.yaml > out` works like a shell pipe.

            Exit status: 0 when the job completes; the failing step's exit code when a step \
            fails; 1 when Dray cannot run the job; 2 when the job file is invalid. A field Dray \
            does not know is a warning on stderr (with --strict, an error).

            The engine is the docker CLI's: DOCKER_HOST (Docker or Podman), DOCKER_TLS_VERIFY and \
            DOCKER_CERT_PATH for TLS, and the registry logins in DOCKER_CONFIG's config.json \
            (default ~/.docker/config.json).
            """
    )

    @Argument(help: ArgumentHelp("The job file, JSON or YAML; - reads standard input.", valueName: "file"))
    var file: String

    @Option(
        name: [.customShort("e"), .long],
        help: ArgumentHelp("Add job-level environment, for every step.", valueName: "name=value"))
    var env: [String] = []

    @Flag(name: .shortAndLong, help: "Print no log lines, only an error.")
    var quiet = false

    @Flag(help: "Refuse a job file with a field Dray does not know (exit 2), rather than warn.")
    var strict = false

    @Flag(help: "Write step output and names as they are, control characters and escape sequences included.")
    var raw = false

    @Flag(help: SandboxHelp.noSandbox)
    var noSandbox = false

    func validate() throws {
        for pair in env {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw ValidationError("--env takes NAME=value, not \"\(pair)\"")
            }
        }
    }

    func run() async throws {
        let console = Console(quiet: quiet, raw: raw)
        let job: Job
        do {
            let reading = try JobFile.read(file, strict: strict)
            JobFile.warn(reading.warnings, file: file)
            var decoded = reading.job
            decoded.environment = Self.merge(decoded.environment ?? [], env.map(Self.variable))
            job = decoded
        } catch {
            await console.fail("\(JobFile.name(file)): \(error.message)")
            throw ExitCode(2)
        }

        let engine: EngineConnection
        do {
            let environment = ProcessInfo.processInfo.environment
            engine = try await EngineConnection.open(
                environment: environment, logins: RegistryLogins(environment: environment), sandbox: !noSandbox)
        } catch {
            await console.fail("\(error)")
            throw ExitCode(1)
        }
        let id = UUID().uuidString
        // A local user's own tool: no server ceiling on how long a step may take to stop.
        let runner = JobRunner(runtime: engine.runtime, defaults: StepLimits(maxStopGrace: .infinity))
        let outcome: Result<JobState, any Error> = await Result(catching: {
            try await FileSystem.shared.withTemporaryDirectory(
                prefix: try await FileSystem.shared.temporaryDirectory.appending("dray-run-")
            ) { _, spool in
                let state = await Self.untilInterrupted {
                    await console.track(job) {
                        await runner.run(job, id: id, spoolDirectory: spool, observer: console)
                    }
                }
                if state.status == .complete {
                    try await StandardOutput.copy(JobRunner.outputPath(step: state.outputStep, in: spool))
                }
                return state
            }
        })
        await engine.shutdown()
        switch outcome {
        case .failure(let error):
            await console.fail("\(error)")
            throw ExitCode(1)
        case .success(let state) where state.status == .complete:
            return
        case .success(let state):
            await console.fail(state.error ?? "the job failed")
            throw ExitCode(
                ExitStatus.forFailedJob(exitCodes: state.steps.map(\.exitCode), canceled: state.phase == .canceled))
        }
    }

    private static func variable(_ pair: String) -> EnvironmentVariable {
        let equals = pair.firstIndex(of: "=")!
        return EnvironmentVariable(variable: String(pair[..<equals]), value: String(pair[pair.index(after: equals)...]))
    }

    /// The job's environment with `overrides` set on top.
    private static func merge(_ base: [EnvironmentVariable], _ overrides: [EnvironmentVariable])
        -> [EnvironmentVariable]
    {
        let replaced = Set(overrides.map(\.variable))
        return base.filter { !replaced.contains($0.variable) } + overrides
    }

    /// Runs `body`, canceling it on SIGINT or SIGTERM.
    private static func untilInterrupted<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                await Signals.wait(for: [SIGINT, SIGTERM])
                return nil
            }
            var result: T?
            for await value in group {
                if let value {
                    result = value
                    break
                }
                group.cancelAll()
            }
            group.cancelAll()
            return result!
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
