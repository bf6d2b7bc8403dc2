/// The body of `POST /containers/create`: the few fields a step needs.
public struct ContainerCreateRequest: Encodable, Sendable, Equatable {
    public var image: String
    public var env: [String]
    public var labels: [String: String]
    public var openStdin = true
    public var stdinOnce = true
    public var attachStdin = true
    public var attachStdout = true
    public var attachStderr = true
    public var tty = false
    public var cmd: [String]?
    public var entrypoint: [String]?
    public var workingDir: String?
    public var user: String?
    public var hostConfig = HostConfig()

    /// `HostConfig`: what Dray sets of it.
    public struct HostConfig: Encodable, Sendable, Equatable {
        /// The engine's own copy of the container's output. Dray reads every byte through the
        /// attach stream and keeps the log itself, so its containers default to the `none`
        /// driver: the engine no longer encodes and writes a second copy (for 100 MB of
        /// output, seconds of the engine's CPU and three times the bytes on its disk).
        public var logConfig: LogConfig? = LogConfig(type: "none")
        /// Bytes; nil is the engine's default, no limit.
        public var memory: Int64?
        /// CPUs in billionths (`--cpus 1.5` is 1,500,000,000).
        public var nanoCpus: Int64?
        public var pidsLimit: Int64?
        /// `none`, `bridge` or a network's name; nil is the engine's default, `bridge`.
        public var networkMode: String?

        public struct LogConfig: Encodable, Sendable, Equatable {
            public var type: String
            enum CodingKeys: String, CodingKey { case type = "Type" }
        }

        enum CodingKeys: String, CodingKey {
            case logConfig = "LogConfig"
            case memory = "Memory"
            case nanoCpus = "NanoCpus"
            case pidsLimit = "PidsLimit"
            case networkMode = "NetworkMode"
        }
    }

    public init(image: String, env: [String], labels: [String: String]) {
        self.image = image
        self.env = env
        self.labels = labels
    }

    enum CodingKeys: String, CodingKey {
        case image = "Image"
        case env = "Env"
        case labels = "Labels"
        case openStdin = "OpenStdin"
        case stdinOnce = "StdinOnce"
        case attachStdin = "AttachStdin"
        case attachStdout = "AttachStdout"
        case attachStderr = "AttachStderr"
        case tty = "Tty"
        case cmd = "Cmd"
        case entrypoint = "Entrypoint"
        case workingDir = "WorkingDir"
        case user = "User"
        case hostConfig = "HostConfig"
    }
}

/// The answer to `POST /containers/create`.
public struct ContainerCreateResponse: Decodable, Sendable {
    public var id: String
    public var warnings: [String]?

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case warnings = "Warnings"
    }
}

/// The answer to `POST /containers/{id}/wait`.
public struct ContainerWaitResponse: Decodable, Sendable {
    public var statusCode: Int64
    public var error: WaitError?

    public struct WaitError: Decodable, Sendable {
        public var message: String?
        enum CodingKeys: String, CodingKey { case message = "Message" }
    }

    enum CodingKeys: String, CodingKey {
        case statusCode = "StatusCode"
        case error = "Error"
    }
}

/// One entry of `GET /containers/json`.
public struct ContainerSummary: Decodable, Sendable {
    public var id: String
    public var labels: [String: String]?
    public var state: String?

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case labels = "Labels"
        case state = "State"
    }
}
