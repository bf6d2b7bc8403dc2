import Foundation

/// The `docker run` options a step may set, as one type: read flat from the step's own JSON
/// object (`"memory": "512m"` beside `"source"`), checked, filled with the server's defaults
/// and handed to the runtime as they are. Nil keeps the image's or the engine's.
///
/// To add an option, see CONTRIBUTING.md: its field, key and reading here, its check in
/// ``problems(at:)``, its server default (if any) in ``filled(with:)``, then the runtime's
/// mapping, the JSON Schema, the OpenAPI description and the README.
public struct StepOptions: Codable, Sendable, Equatable {
    /// The command, as `docker run IMAGE COMMAND…` gives it; the image's when nil.
    public var command: [String]?
    /// The entrypoint, as `docker run --entrypoint`; the image's when nil.
    public var entrypoint: [String]?
    /// The folder the step starts in, an absolute path (`--workdir`).
    public var workingDir: String?
    /// The user, `name|uid[:group|gid]` (`--user`).
    public var user: String?
    /// The most memory the step may use (`--memory`); the server's `--step-memory` when nil.
    public var memory: MemorySize?
    /// How many CPUs the step may use, a decimal (`--cpus`); the server's `--step-cpus` when nil.
    public var cpus: Double?
    /// How many processes the step may have (`--pids-limit`); the server's `--step-pids` when nil.
    public var pidsLimit: Int?
    /// `none`, `bridge` (the default) or a network's name (`--network`); never the host's.
    public var network: String?

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case command, entrypoint, workingDir, user, memory, cpus, pidsLimit, network
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        command = try container.decodeIfPresent([String].self, forKey: .command)
        entrypoint = try container.decodeIfPresent([String].self, forKey: .entrypoint)
        workingDir = try container.decodeIfPresent(String.self, forKey: .workingDir)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        memory = try container.decodeIfPresent(MemorySize.self, forKey: .memory)
        cpus = try container.decodeIfPresent(Double.self, forKey: .cpus)
        pidsLimit = try container.decodeWholeIfPresent(forKey: .pidsLimit, as: "a whole number")
        network = try container.decodeIfPresent(String.self, forKey: .network)
    }

    /// The options with the server's defaults where the step sets none.
    public func filled(with defaults: StepLimits) -> StepOptions {
        var options = self
        options.memory = memory ?? defaults.memory
        options.cpus = cpus ?? defaults.cpus
        options.pidsLimit = pidsLimit ?? defaults.pids
        return options
    }

    /// What is wrong with the options of the step at `path` (`steps[0]`), one message each.
    public func problems(at path: String) -> [String] {
        var problems: [String] = []
        for (name, arguments) in [("command", command), ("entrypoint", entrypoint)] {
            guard let arguments else { continue }
            if arguments.count > 4096 { problems.append("\(path).\(name) has \(arguments.count) items; at most 4096") }
            if arguments.contains(where: { $0.utf8.contains(0) }) {
                problems.append("\(path).\(name) must not contain a NUL character")
            }
        }
        if let directory = workingDir {
            if !directory.hasPrefix("/") || directory.utf8.contains(0) || directory.utf8.count > 4096 {
                problems.append("\(path).workingDir must be an absolute path, not \"\(directory)\"")
            }
        }
        if let user,
            user.range(
                of: #"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,255}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,255})?$"#,
                options: .regularExpression) == nil
        {
            problems.append(
                "\(path).user must be a user name or id, optionally :group, as docker run --user takes it, not \"\(user)\""
            )
        }
        if let memory, memory.bytes < StepLimits.leastMemory {
            problems.append("\(path).memory must be at least 6 MiB (the engine's least), not \(memory.bytes) bytes")
        }
        if let cpus, let problem = StepLimits.cpusProblem(cpus, name: "\(path).cpus") {
            problems.append(problem)
        }
        if let pidsLimit, let problem = StepLimits.pidsProblem(pidsLimit, name: "\(path).pidsLimit") {
            problems.append(problem)
        }
        if let network {
            if network == "host" || network.hasPrefix("container:") {
                problems.append(
                    "\(path).network cannot be \"\(network)\": a step never shares the host's or another container's network"
                )
            } else if network.range(of: #"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"#, options: .regularExpression) == nil {
                problems.append("\(path).network must be \"none\", \"bridge\" or a network's name, not \"\(network)\"")
            }
        }
        return problems
    }
}
