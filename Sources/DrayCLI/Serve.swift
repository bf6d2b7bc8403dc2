import ArgumentParser
import DrayAPI
import DrayDocker
import DrayEngine
import DrayPostgres
import DrayRedis
import DraySQLite
import DrayServer
import Foundation
import Logging
import NIOFileSystem

/// `dray serve`: the REST API on port 3000, running submitted jobs on the Docker engine.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the REST API and run submitted jobs.",
        discussion: """
            Environment: PORT (the default port), DRAY_STORE (the default store), REDIS_PORT (the \
            original's Docker link variable, tcp://HOST:PORT: Redis there when no store is given), \
            DRAY_DATA_DIR (the default data folder), DRAY_TOKEN (the token), DRAY_TLS_CERT and DRAY_TLS_KEY \
            (HTTPS), LOG_LEVEL (panic, fatal, error, warn, info or debug; default info), LOG_FORMAT (text, \
            the default, or json: one object per line), DOCKER_HOST (the engine, \
            Docker or Podman), DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (TLS to a tcp:// engine, as the docker CLI), \
            DOCKER_CONFIG (the folder of the config.json with registry logins).

            Listening beyond loopback with no token, dray serve makes one, keeps it in DATA_DIR/token \
            (mode 0600) and logs it: every route but /healthz and /readyz then needs \
            Authorization: Bearer <token>. It never runs open there unless --no-auth is given.
            """
    )

    @Option(help: "The address to listen on; 0.0.0.0 for every interface.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on. (default: $PORT, or \(APIDefaults.port))")
    var port: Int?

    @Option(
        help: ArgumentHelp(
            "Where spools and the default database live. (default: $DRAY_DATA_DIR, or /var/lib/dray as root, ~/.local/share/dray otherwise)",
            valueName: "path"))
    var dataDir: String?

    @Option(
        help: ArgumentHelp(
            "The job store: sqlite:PATH, redis://[:password@]HOST:PORT[/DB] or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE. (default: $DRAY_STORE, Redis at $REDIS_PORT, or sqlite:DATA_DIR/dray.sqlite)",
            valueName: "url"))
    var store: String?

    @Option(help: "The largest job description accepted, in bytes; larger gets 413.")
    var maxBodyBytes = Self.server.maxBodyBytes

    @Option(
        help:
            "How many jobs run at once on this node; later ones wait in FIFO order, in phase queued. 0 serves the API and runs no jobs (on PostgreSQL, which other nodes share)."
    )
    var maxConcurrentJobs = Self.jobs.maxConcurrentJobs

    @Option(
        help:
            "How many containers the steps of graphs (jobs whose steps say needs) run at once on this node, over all jobs. (default: twice the cores)"
    )
    var maxConcurrentSteps: Int?

    @Option(
        help: ArgumentHelp(
            "How long a finished job's step outputs are kept, for resume and downloads (30s, 10m, 24h, or off: forever).",
            valueName: "duration"))
    var keepOutputs = DurationOption(Self.jobs.keepOutputs)

    @Option(
        help: ArgumentHelp(
            "Delete finished jobs, with their logs and outputs, this long after they end (off: never).",
            valueName: "duration"))
    var jobTTL = DurationOption(Self.jobs.jobTTL)

    @Option(
        help: ArgumentHelp(
            "How long the audit log's entries are kept (90d, 24h, or off: forever).", valueName: "duration"))
    var keepAudit = DurationOption(Self.jobs.keepAudit)

    @Option(
        help: ArgumentHelp(
            "Keep at most this much of each job's log (100000, 512K, 10M, 1G, or off: everything): the first half as it comes, a line saying what was dropped, and the last half, held in memory until the job ends.",
            valueName: "bytes"))
    var maxLogBytes = ByteCountOption(argument: "off")!

    @Option(
        help: ArgumentHelp(
            "On SIGTERM or SIGINT, how long running jobs may take to finish before they are stopped.",
            valueName: "duration"))
    var shutdownGrace = DurationOption(Self.jobs.shutdownGrace)

    @Option(
        help: ArgumentHelp(
            "How long this node's lease on its jobs lasts unless renewed (every third of it); when it runs out, another node ends them as node-lost.",
            valueName: "duration"))
    var lease = DurationOption(Self.jobs.lease)

    @Option(
        help: ArgumentHelp(
            "The URL at which other nodes reach this one (http or https, with the port) for the step outputs in its spool; a node asked for one it does not hold forwards the request there, with the caller's token.",
            valueName: "url"))
    var advertiseURL: String?

    @Option(
        help: ArgumentHelp(
            "A node's advertised host:port that this node may forward a download to, with the caller's token (repeatable); any other is refused. Without it, only loopback, link-local and private addresses are.",
            valueName: "host:port"))
    var allowPeer: [String] = []

    @Option(
        help: ArgumentHelp(
            "The most memory a step may ask for, and what one that does not ask gets (bytes, or 512m, 2g).",
            valueName: "size"))
    var stepMemory: String?

    @Option(
        help: ArgumentHelp(
            "A registry, host[:port], that steps' images may come from (repeatable); any other is refused. Without it, only loopback, link-local and private addresses are.",
            valueName: "host[:port]"))
    var allowRegistry: [String] = []

    @Option(
        help: ArgumentHelp(
            "The docker CLI's config.json to read registry logins from (auths, credsStore, credHelpers); read at each pull. Default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json.",
            valueName: "path"))
    var registryConfig: String?

    @Option(
        help: ArgumentHelp("The most CPUs a step may ask for, and what one that does not ask gets.", valueName: "cpus"))
    var stepCpus: Double?

    @Option(
        help: ArgumentHelp(
            "The most processes a step may ask for, and what one that does not ask gets.", valueName: "count"))
    var stepPids: Int?

    @Option(
        help: ArgumentHelp(
            "The longest stopGracePeriod a step may ask for (a longer one is a 400): on a cancel, a timeout or a shutdown, a step that ignores SIGTERM is killed this long after it at the latest.",
            valueName: "duration"))
    var maxStopGrace = DurationOption(.seconds(StepLimits.defaultMaxStopGrace))

    @Option(
        help: ArgumentHelp(
            "How long a client may take to send a request's headers, from connecting or from the last answer's end; then it is disconnected.",
            valueName: "duration"))
    var headerTimeout = DurationOption(Self.server.headerTimeout)

    @Option(
        help: ArgumentHelp(
            "How long a client may take to send a request's body, from the end of its headers; then it is disconnected.",
            valueName: "duration"))
    var bodyTimeout = DurationOption(Self.server.bodyTimeout)

    @Option(
        help: ArgumentHelp(
            "A file holding the token every route but /healthz and /readyz asks for. (default: $DRAY_TOKEN)",
            valueName: "path"))
    var tokenFile: String?

    @Flag(help: "Answer without a token even beyond loopback (warned at every start).")
    var noAuth = false

    @Flag(help: "Serve no /metrics, and time neither requests nor engine calls.")
    var noMetrics = false

    @Option(
        help: ArgumentHelp(
            "Where step outputs are spooled. Nodes that share it can resume each other's jobs from the step that failed. (default: $DRAY_SPOOL_DIR, or DATA_DIR/spool)",
            valueName: "path"))
    var spoolDir: String?

    @Option(
        help: ArgumentHelp(
            "Where the outputs of steps that say cache are kept, to be reused by a later run on the same input; off: no cache. (default: DATA_DIR/cache)",
            valueName: "path"))
    var cacheDir: String?

    @Option(
        help: ArgumentHelp(
            "The most the step cache holds, outputs and logs together (512M, 10G, or off: no bound); the least recently used go first.",
            valueName: "bytes"))
    var cacheMaxBytes = ByteCountOption(argument: "10G")!

    @Flag(
        help:
            "Do not follow the store's change feed (PostgreSQL's NOTIFY, Redis's dray:changes): look at the queue once a second only (behind a pooler that drops LISTEN, such as PgBouncer in transaction mode)."
    )
    var noListen = false

    @Flag(help: SandboxHelp.noSandbox)
    var noSandbox = false

    @Option(
        help: ArgumentHelp(
            "This server's node id, on its containers (dray.node), logs and gauges. (default: $DRAY_NODE_ID, or one made once and kept in DATA_DIR/node-id)",
            valueName: "id"))
    var nodeID: String?

    @Option(
        help: ArgumentHelp(
            "A name besides loopback's that a server on loopback answers to in Host (repeatable); others get 403.",
            valueName: "name"))
    var publicName: [String] = []

    @Option(
        help: ArgumentHelp("Serve HTTPS with this PEM certificate chain. (default: $DRAY_TLS_CERT)", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The PEM private key of --tls-cert. (default: $DRAY_TLS_KEY)", valueName: "path"))
    var tlsKey: String?

    @Option(
        help: ArgumentHelp(
            "Write this server's process id here while it runs; the file goes when it stops.", valueName: "path"))
    var pidFile: String?

    @Option(
        help: ArgumentHelp(
            "An address told of every job's end by a JSON POST, as a job's webhooks are (repeatable).",
            valueName: "url"))
    var webhook: [String] = []

    @Option(
        help: ArgumentHelp(
            "A file holding the secret that --webhook's deliveries are signed with (X-Dray-Signature-256).",
            valueName: "path"))
    var webhookSecretFile: String?

    @Option(
        help: ArgumentHelp(
            "A loopback, link-local or private host (or host:port) that webhooks may be sent to (repeatable); a job's webhook to another such address is a 400.",
            valueName: "host"))
    var allowWebhook: [String] = []

    @Option(
        help: ArgumentHelp(
            "Export OpenTelemetry traces over OTLP/HTTP to this collector (its base URL; /v1/traces is added): a span per job, per step attempt and per engine call. Off by default.",
            valueName: "url"))
    var otlpEndpoint: String?

    private var accessOptions: ServeAccess.Options {
        func variable(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        return ServeAccess.Options(
            host: host, dataDir: resolvedDataDir, tokenFile: tokenFile, tokenVariable: variable("DRAY_TOKEN"),
            noAuth: noAuth, tlsCert: tlsCert ?? variable("DRAY_TLS_CERT"), tlsKey: tlsKey ?? variable("DRAY_TLS_KEY"))
    }

    func validate() throws {
        try ServeAccess.validate(accessOptions)
        if let port = try resolvedPort(), !(1...65535).contains(port) {
            throw ValidationError("--port must be from 1 to 65535, not \(port)")
        }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        if let url = advertiseURL {
            guard let parsed = URLComponents(string: url), ["http", "https"].contains(parsed.scheme ?? ""),
                parsed.host?.isEmpty == false, parsed.query == nil
            else {
                throw ValidationError(
                    "--advertise-url must be an http or https URL such as http://10.0.0.5:3000, not \(url)")
            }
        }
        if let steps = maxConcurrentSteps, steps < 1 {
            throw ValidationError("--max-concurrent-steps must be 1 or more, not \(steps)")
        }
        guard maxConcurrentJobs >= 0 else {
            throw ValidationError("--max-concurrent-jobs must be 0 (serve the API, run no jobs) or more")
        }
        guard shutdownGrace.duration != nil else { throw ValidationError("--shutdown-grace needs a duration, not off") }
        guard let lease = lease.duration, lease >= .seconds(1) else {
            throw ValidationError("--lease needs a duration of at least 1s")
        }
        _ = try stepLimits
        for registry in allowRegistry where !ImageReference.isRegistryHost(Substring(registry)) {
            throw ValidationError("--allow-registry takes host[:port], not \"\(registry)\"")
        }
        guard let header = headerTimeout.duration, header > .zero else {
            throw ValidationError("--header-timeout needs a duration above 0, not off")
        }
        guard let body = bodyTimeout.duration, body > .zero else {
            throw ValidationError("--body-timeout needs a duration above 0, not off")
        }
        _ = try StoreURL(resolvedStore())
        if let otlpEndpoint { _ = try TraceExport.tracesURL(otlpEndpoint) }
        for url in webhook {
            guard let address = WebhookAddress(url) else {
                throw ValidationError("--webhook must be an http or https URL with a host, not \(url)")
            }
            guard WebhookPolicy(allowed: allowWebhook).allows(address) else {
                throw ValidationError(
                    "--webhook \(url) names a loopback, link-local or private host: name it with --allow-webhook too")
            }
        }
        if webhookSecretFile != nil, webhook.isEmpty {
            throw ValidationError("--webhook-secret-file signs --webhook's deliveries: give --webhook too")
        }
    }

    /// `--webhook`s, with the secret of `--webhook-secret-file` (its first line).
    private var serverWebhooks: [Webhook] {
        get throws {
            var secret: String?
            if let webhookSecretFile {
                let text: String
                do {
                    text = try String(contentsOfFile: webhookSecretFile, encoding: .utf8)
                } catch {
                    throw ValidationError(
                        "--webhook-secret-file: cannot read \(webhookSecretFile): \(error.localizedDescription)")
                }
                secret = text.split(whereSeparator: \.isNewline).first.map(String.init)
                guard secret?.isEmpty == false else {
                    throw ValidationError("--webhook-secret-file \(webhookSecretFile) holds no secret")
                }
            }
            return webhook.map { Webhook(url: $0, secret: secret) }
        }
    }

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The service's and the server's defaults, which the flags' defaults are.
    private static let jobs = JobService.Configuration()
    private static let server = DrayServer.Configuration()

    /// `--step-memory`, `--step-cpus` and `--step-pids`, checked as a step's own values are.
    private var stepLimits: StepLimits {
        get throws {
            var limits = StepLimits(cpus: stepCpus, pids: stepPids)
            if let stepMemory {
                guard let size = MemorySize(stepMemory), size.bytes >= StepLimits.leastMemory else {
                    throw ValidationError("--step-memory must be a size of at least 6m (6 MiB), not \"\(stepMemory)\"")
                }
                limits.memory = size
            }
            if let cpus = stepCpus, let problem = StepLimits.cpusProblem(cpus, name: "--step-cpus") {
                throw ValidationError(problem)
            }
            guard let grace = maxStopGrace.duration else {
                throw ValidationError("--max-stop-grace needs a duration, not off: a step's grace always ends")
            }
            limits.maxStopGrace = grace / .seconds(1)
            if let pids = stepPids, let problem = StepLimits.pidsProblem(pids, name: "--step-pids") {
                throw ValidationError(problem)
            }
            return limits
        }
    }

    private func resolvedPort() throws -> Int? {
        if let port { return port }
        guard let text = environment["PORT"], !text.isEmpty else { return nil }
        guard let value = Int(text) else { throw ValidationError("PORT must be a number, not \"\(text)\"") }
        return value
    }

    private var resolvedDataDir: String {
        if let dataDir { return dataDir }
        if let dir = environment["DRAY_DATA_DIR"], !dir.isEmpty { return dir }
        if getuid() == 0 { return "/var/lib/dray" }
        return (environment["HOME"] ?? ".") + "/.local/share/dray"
    }

    private func resolvedStore() throws -> String {
        if let store { return store }
        if let text = environment["DRAY_STORE"], !text.isEmpty { return text }
        if let link = environment["REDIS_PORT"], !link.isEmpty {
            guard let url = RedisConfiguration.redisURL(fromLinkVariable: link) else {
                throw ValidationError(
                    "REDIS_PORT \"\(link)\" is not a Docker link address (tcp://HOST:PORT); or give --store")
            }
            return url
        }
        return "sqlite:\(resolvedDataDir)/dray.sqlite"
    }

    func run() async throws {
        // The store holds secrets, logs and outputs: no other local user reads what it writes.
        umask(0o077)
        let level = LogLevel.parse(environment["LOG_LEVEL"])
        let format = LogFormat.parse(environment["LOG_FORMAT"])
        LoggingSystem.bootstrap { label in
            switch format.format {
            case .text:
                return TextLogHandler(label: label, logLevel: level.level)
            case .json:
                return JSONLogHandler(label: label, logLevel: level.level)
            }
        }
        let node = try NodeID.resolve(
            given: nodeID ?? environment["DRAY_NODE_ID"].flatMap { $0.isEmpty ? nil : $0 }, dataDir: resolvedDataDir)
        var logger = Logger(label: "dray")
        logger[metadataKey: "node"] = "\(node)"
        for warning in [level.warning, format.warning].compactMap({ $0 }) { logger.warning("\(warning)") }

        let access = try ServeAccess.resolve(accessOptions)
        for message in access.messages { logger.log(level: message.level, "\(message.text)") }
        let storeURL = try StoreURL(resolvedStore())
        if maxConcurrentJobs == 0 {
            guard case .postgres = storeURL else {
                throw ValidationError(
                    "--max-concurrent-jobs 0 runs no jobs here: it needs a store that nodes share, PostgreSQL")
            }
        }
        let jobStore: any JobStore
        switch storeURL {
        case .sqlite(let path):
            // A store made before (by an older dray, under umask 022) loses the others' access.
            for file in [path, path + "-wal", path + "-shm"] { chmod(file, 0o600) }
            jobStore = try SQLiteJobStore(path: path)
        case .redis(let configuration): jobStore = RedisJobStore(configuration: configuration)
        case .postgres(let url):
            do {
                jobStore = try PostgresJobStore(url: url, logger: logger)
            } catch {
                throw ValidationError("--store \(error)")
            }
        }
        if let pidFile {
            do {
                try "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
            } catch {
                throw ValidationError("--pid-file: cannot write \(pidFile): \(error.localizedDescription)")
            }
        }
        defer { if let pidFile { try? FileManager.default.removeItem(atPath: pidFile) } }
        try await serve(jobStore, storeURL: storeURL, node: node, logger: logger, access: access)
    }

    private func serve(
        _ jobStore: any JobStore, storeURL: StoreURL, node: String, logger: Logger, access: ServeAccess
    ) async throws {
        let logins = registryConfig.map(RegistryLogins.init(path:)) ?? RegistryLogins(environment: environment)
        try logins?.check()
        let metrics = DrayMetrics(node: node)
        var observe: (@Sendable (String, Duration) -> Void)?
        if !noMetrics { observe = { @Sendable call, duration in metrics.engineCall(call, duration: duration) } }
        let engine = try await EngineConnection.open(
            environment: environment, logins: logins, labels: ["dray.node": node], sandbox: !noSandbox,
            spareSandbox: true,
            logger: logger, observe: observe, waiting: .seconds(30))
        do {
            var jobs = JobService.Configuration()
            jobs.maxConcurrentJobs = maxConcurrentJobs
            jobs.maxConcurrentSteps = maxConcurrentSteps ?? jobs.maxConcurrentSteps
            jobs.keepOutputs = keepOutputs.duration
            jobs.jobTTL = jobTTL.duration
            jobs.keepAudit = keepAudit.duration
            jobs.maxLogBytes = maxLogBytes.bytes
            jobs.shutdownGrace = shutdownGrace.duration ?? jobs.shutdownGrace
            jobs.node = node
            jobs.lease = lease.duration ?? jobs.lease
            if cacheDir != "off" {
                jobs.cacheDirectory = FilePath(cacheDir ?? resolvedDataDir + "/cache")
                jobs.cacheMaxBytes = cacheMaxBytes.bytes.map(Int64.init) ?? .max
            }
            jobs.advertiseURL = advertiseURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            jobs.listen = !noListen
            jobs.stepLimits = try stepLimits
            jobs.registries = RegistryPolicy(allowed: allowRegistry)
            jobs.peers = RegistryPolicy(allowed: allowPeer)
            jobs.webhooks = WebhookPolicy(allowed: allowWebhook)
            jobs.serverWebhooks = try serverWebhooks
            let service = JobService(
                store: jobStore,
                runtime: engine.runtime,
                spoolRoot: FilePath(
                    spoolDir ?? environment["DRAY_SPOOL_DIR"].flatMap { $0.isEmpty ? nil : $0 }
                        ?? resolvedDataDir + "/spool"), logger: logger, configuration: jobs,
                metrics: metrics)

            var configuration = DrayServer.Configuration()
            configuration.host = host
            configuration.port = try resolvedPort() ?? configuration.port
            configuration.maxBodyBytes = maxBodyBytes
            configuration.token = access.token
            configuration.tls = access.tls
            configuration.publicNames = publicName
            configuration.headerTimeout = headerTimeout.duration ?? configuration.headerTimeout
            configuration.bodyTimeout = bodyTimeout.duration ?? configuration.bodyTimeout
            configuration.metrics = !noMetrics
            logger.info(
                "dray serving on \(access.tls == nil ? "http" : "https")://\(host):\(configuration.port), store \(storeURL), engine \(engine.endpoint)"
            )
            let tracing = try otlpEndpoint.map { try TraceExport.start(endpoint: $0, node: node, logger: logger) }
            let app = try DrayServer.application(
                service: service, configuration: configuration, logger: logger, services: tracing.map { [$0] } ?? [])
            try await app.runService()
        } catch {
            await engine.shutdown()
            throw error
        }
        await engine.shutdown()
    }
}

/// A `--store` URL.
enum StoreURL: CustomStringConvertible {
    case sqlite(path: String)
    case redis(RedisConfiguration)
    case postgres(String)

    init(_ text: String) throws {
        if text.hasPrefix("redis://") || text.hasPrefix("rediss://") {
            do {
                self = .redis(try RedisConfiguration(url: text))
            } catch {
                throw ValidationError("--store \(error)")
            }
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(text)
        } else if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else {
                throw ValidationError("--store sqlite: needs a path: sqlite:/var/lib/dray/dray.sqlite")
            }
            self = .sqlite(path: path)
        } else {
            throw ValidationError(
                "--store \"\(text)\" is not a store this dray knows: use sqlite:PATH, redis://HOST:PORT or postgres://USER@HOST:PORT/DATABASE"
            )
        }
    }

    /// The store as logs show it: without a password.
    var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .redis(let configuration): configuration.redactedURL
        case .postgres(let url): PostgresJobStore.redacted(url)
        }
    }
}

/// `LOG_LEVEL`, in the original's words.
struct LogLevel {
    var level: Logger.Level
    var warning: String?

    static func parse(_ text: String?) -> LogLevel {
        switch text?.lowercased() {
        case nil, "": LogLevel(level: .info)
        case "panic", "fatal": LogLevel(level: .critical)
        case "error": LogLevel(level: .error)
        case "warn", "warning": LogLevel(level: .warning)
        case "info": LogLevel(level: .info)
        case "debug": LogLevel(level: .debug)
        case "trace": LogLevel(level: .trace)
        case let other?:
            LogLevel(
                level: .info,
                warning: "LOG_LEVEL \"\(other)\" is not one of panic, fatal, error, warn, info, debug: using info")
        }
    }
}
