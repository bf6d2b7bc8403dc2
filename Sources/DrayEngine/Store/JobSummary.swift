import Foundation

/// One entry of a job list: what a list shows of a job, which a store reads without decoding
/// the job's description or its steps' states.
public struct JobSummary: Codable, Sendable, Equatable {
    public var id: String
    public var name: String?
    public var status: JobStatus
    public var phase: JobPhase
    public var stepsCompleted: Int
    public var totalSteps: Int
    /// The step being prepared or run, counted from 1 as in messages.
    public var currentStep: Int?
    /// Why the job ended in `error`.
    public var reason: FailureReason?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// The project the job belongs to.
    public var project: String = Project.defaultName

    public init(
        id: String, name: String?, status: JobStatus, phase: JobPhase, stepsCompleted: Int, totalSteps: Int,
        currentStep: Int?, reason: FailureReason?, createdAt: Date, startedAt: Date?, finishedAt: Date?
    ) {
        self.id = id
        self.name = name
        self.status = status
        self.phase = phase
        self.stepsCompleted = stepsCompleted
        self.totalSteps = totalSteps
        self.currentStep = currentStep
        self.reason = reason
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    /// The summary of a job of `totalSteps` steps named `name`, in `state`.
    public init(id: String, name: String?, totalSteps: Int, state: JobState, project: String? = nil) {
        self.init(
            id: id, name: name, status: state.status, phase: state.phase, stepsCompleted: state.stepsCompleted,
            totalSteps: totalSteps, currentStep: state.currentStep.map { $0 + 1 }, reason: state.reason,
            createdAt: state.createdAt, startedAt: state.startedAt, finishedAt: state.finishedAt)
        self.project = project ?? Project.defaultName
    }

    enum CodingKeys: String, CodingKey {
        case id, name, status, phase, stepsCompleted, totalSteps, currentStep, reason, createdAt, startedAt,
            finishedAt, project
    }

    /// Reads a summary; one from a server before projects, without `project`, is `default`'s.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id),
            name: try container.decodeIfPresent(String.self, forKey: .name),
            status: try container.decode(JobStatus.self, forKey: .status),
            phase: try container.decode(JobPhase.self, forKey: .phase),
            stepsCompleted: try container.decode(Int.self, forKey: .stepsCompleted),
            totalSteps: try container.decode(Int.self, forKey: .totalSteps),
            currentStep: try container.decodeIfPresent(Int.self, forKey: .currentStep),
            reason: try container.decodeIfPresent(FailureReason.self, forKey: .reason),
            createdAt: try container.decode(Date.self, forKey: .createdAt),
            startedAt: try container.decodeIfPresent(Date.self, forKey: .startedAt),
            finishedAt: try container.decodeIfPresent(Date.self, forKey: .finishedAt))
        project = try container.decodeIfPresent(String.self, forKey: .project) ?? Project.defaultName
    }

    public init(_ record: JobRecord) {
        self.init(
            id: record.id, name: record.job.name, totalSteps: record.job.steps.count, state: record.state,
            project: record.job.projectName)
    }
}
