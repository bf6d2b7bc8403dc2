import Crypto
import Foundation

/// What a token may do, each scope all the one before it may and more.
public enum Scope: String, Codable, Sendable, CaseIterable, Comparable {
    /// List and show jobs, their logs and outputs, schedules and templates.
    case read
    /// Also submit, cancel, resume and delete jobs, and change schedules and templates.
    case submit
    /// Also tokens, projects' quotas and the audit log.
    case admin

    public static func < (lhs: Scope, rhs: Scope) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// How soon a queued job is claimed: the highest first; between projects, in turns.
public enum Priority: String, Codable, Sendable, CaseIterable {
    case low, normal, high

    /// The order the stores keep: 0, 1, 2.
    public var rank: Int { Self.allCases.firstIndex(of: self)! }

}

/// A project: the jobs, schedules, templates and tokens of one team, and its quotas.
public struct Project: Codable, Sendable, Equatable {
    public var name: String
    /// Jobs of the project claimed at once, on every node; nil, no limit.
    public var maxRunningJobs: Int?
    /// Jobs of the project waiting in the queue; a submit beyond it is refused (429).
    public var maxQueuedJobs: Int?
    /// The most memory a step may ask for, and what a step that asks for none gets.
    public var maxStepMemory: MemorySize?
    /// The most CPUs a step may ask for, and what a step that asks for none gets.
    public var maxStepCPUs: Double?

    public init(
        name: String, maxRunningJobs: Int? = nil, maxQueuedJobs: Int? = nil, maxStepMemory: MemorySize? = nil,
        maxStepCPUs: Double? = nil
    ) {
        self.name = name
        self.maxRunningJobs = maxRunningJobs
        self.maxQueuedJobs = maxQueuedJobs
        self.maxStepMemory = maxStepMemory
        self.maxStepCPUs = maxStepCPUs
    }

    /// The project of a job that names none, and of every job from before projects.
    public static let defaultName = "default"

    /// Why `name` cannot name a project (1 to 63 of `a-z 0-9 - _ .`, starting with a letter
    /// or digit); nil when it can.
    public static func nameProblem(_ name: String, field: String = "project") -> String? {
        let bytes = Array(name.utf8)
        let allowed = { (byte: UInt8) in
            (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2D || byte == 0x5F || byte == 0x2E
        }
        guard (1...63).contains(bytes.count), bytes.allSatisfy(allowed), bytes[0] != 0x2D, bytes[0] != 0x5F,
            bytes[0] != 0x2E
        else {
            return
                "\(field) must be 1 to 63 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit, not \"\(name.prefix(80))\""
        }
        return nil
    }

    /// Every problem of the quotas, each naming its field.
    public var problems: [String] {
        var problems: [String] = []
        if let problem = Self.nameProblem(name, field: "name") { problems.append(problem) }
        for (field, value) in [("maxRunningJobs", maxRunningJobs), ("maxQueuedJobs", maxQueuedJobs)] {
            if let value, !(0...1_000_000_000).contains(value) {
                problems.append("\(field) must be a whole number from 0 to 1000000000, not \(value)")
            }
        }
        if let cpus = maxStepCPUs, let problem = StepLimits.cpusProblem(cpus, name: "maxStepCPUs") {
            problems.append(problem)
        }
        if let memory = maxStepMemory, memory.bytes < StepLimits.leastMemory {
            problems.append("maxStepMemory must be at least \(StepLimits.leastMemory) bytes (the engine's least)")
        }
        return problems
    }

    /// `job` with the project's step ceilings as the memory and CPUs of each step that asks for
    /// none; each step that asks for more is a problem naming its field.
    public func bounded(_ job: Job) -> (job: Job, problems: [String]) {
        var job = job
        var problems: [String] = []
        for index in job.steps.indices {
            let path = "steps[\(index)]"
            if let ceiling = maxStepMemory {
                if let asked = job.steps[index].memory, asked.bytes > ceiling.bytes {
                    problems.append(
                        "\(path).memory asks for \(asked.bytes) bytes; project \(name) allows at most \(ceiling.bytes)")
                } else if job.steps[index].memory == nil {
                    job.steps[index].memory = ceiling
                }
            }
            if let ceiling = maxStepCPUs {
                if let asked = job.steps[index].cpus, asked > ceiling {
                    problems.append("\(path).cpus asks for \(asked); project \(name) allows at most \(ceiling)")
                } else if job.steps[index].cpus == nil {
                    job.steps[index].cpus = ceiling
                }
            }
        }
        return (job, problems)
    }
}

/// A token of one project, as the store keeps it: never the token, only its SHA-256.
public struct AccessToken: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var project: String
    public var scope: Scope
    /// The SHA-256 of the token's text, in hex.
    public var hash: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?

    public init(
        id: String, name: String, project: String, scope: Scope, hash: String, createdAt: Date,
        expiresAt: Date? = nil, revokedAt: Date? = nil
    ) {
        self.id = id
        self.name = name
        self.project = project
        self.scope = scope
        self.hash = hash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    /// True when the token is neither revoked nor past its time at `date`.
    public func isLive(at date: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { date < $0 } ?? true)
    }

    /// What a token's text is kept as: its SHA-256 in hex. A token holds 256 random bits, so
    /// no salt or slow hash is needed: there is nothing to guess.
    public static func hash(of token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).hex
    }

    /// Tokens Dray makes start with this, so that a leaked one is easy to find in a scan.
    public static let prefix = "dray_"
}

/// Who made a request: the server's own token (an admin of every project) or a project's.
public struct Caller: Sendable, Equatable {
    /// Nil for the server's own token.
    public var token: AccessToken?

    public init(token: AccessToken?) { self.token = token }

    /// The server's own token, or no token on a server without one.
    public static let server = Caller(token: nil)

    public var scope: Scope { token?.scope ?? .admin }

    /// True when the caller may see `project`'s jobs, schedules, templates and tokens.
    public func sees(_ project: String) -> Bool {
        token.map { $0.project == project } ?? true
    }

    /// The one project a project's token sees; nil for the server's token, which sees all.
    public var project: String? { token?.project }

    /// The caller of the request being answered; the server's where no request is.
    @TaskLocal public static var current = Caller.server
}

/// One change, or one refused attempt, as the audit log keeps it. Never the token itself.
public struct AuditEntry: Codable, Sendable, Equatable {
    public struct TokenName: Codable, Sendable, Equatable {
        public var id: String
        public var name: String

        public init(id: String, name: String) {
            self.id = id
            self.name = name
        }

        /// How the server's own token is named in the log.
        public static let server = TokenName(id: "server", name: "server")
    }

    public var time: Date
    /// `job.submit`, `job.cancel`, `token.create`, `project.put`…
    public var action: String
    /// `ok`, `refused` (no right to), or `failed` (the request was wrong).
    public var outcome: String
    public var project: String?
    /// The job's id, the token's id, the schedule's id or the template's name.
    public var target: String?
    public var token: TokenName?
    /// The client's address, as the connection gave it.
    public var address: String?
    /// Why it was refused or failed.
    public var detail: String?

    public init(
        time: Date = Date(), action: String, outcome: String, project: String?, target: String?, token: TokenName?,
        address: String?, detail: String? = nil
    ) {
        self.time = time
        self.action = action
        self.outcome = outcome
        self.project = project
        self.target = target
        self.token = token
        self.address = address
        self.detail = detail
    }
}

/// A page of the audit log, newest first.
public struct AuditPage: Sendable, Equatable {
    public var entries: [AuditEntry]
    /// The cursor of the next (older) page; nil when this is the last.
    public var next: String?

    public init(entries: [AuditEntry], next: String?) {
        self.entries = entries
        self.next = next
    }

    /// The entry number a page starts below: a cursor a store gave (a number), or past the
    /// newest without one. Anything else is the client's mistake.
    public static func position(before cursor: String?) throws -> Int64 {
        guard let cursor else { return .max }
        guard let position = Int64(cursor), position >= 0 else { throw JobListing.badCursor(cursor) }
        return position
    }
}

/// Where projects, tokens and the audit log are kept: in the store, so that every node sees a
/// revoked token at once.
public protocol AccessStore: Sendable {
    /// Stores a project's quotas. True when it is new.
    func putProject(_ project: Project) async throws -> Bool
    func project(name: String) async throws -> Project?
    /// Every project that has quotas, by name.
    func projects() async throws -> [Project]
    func createToken(_ token: AccessToken) async throws
    /// The token whose text hashes to `hash`, live or not; nil when none.
    func token(hash: String) async throws -> AccessToken?
    /// The tokens of `project` (every project's when nil), oldest first.
    func tokens(project: String?) async throws -> [AccessToken]
    /// Marks a token revoked at `date`; its record, or nil when there is no such token.
    func revokeToken(id: String, at date: Date) async throws -> AccessToken?
    /// Appends an entry. Entries are never changed, only pruned by age.
    func appendAudit(_ entry: AuditEntry) async throws
    /// Up to `limit` entries of `project` (every project's when nil), newest first, from a cursor.
    func audit(project: String?, limit: Int, cursor: String?) async throws -> AuditPage
    /// Removes the entries older than `date`; how many.
    func pruneAudit(before date: Date) async throws -> Int
    /// How many jobs of `project` wait in the queue, unclaimed.
    func queuedCount(project: String) async throws -> Int
}

extension DrayError {
    /// A project's queue is full.
    public static func queueFull(_ project: String, max: Int) -> DrayError {
        DrayError(
            .quotaExceeded,
            "project \(project) has \(max) queued jobs, its maxQueuedJobs: submit again once some have started")
    }
}
