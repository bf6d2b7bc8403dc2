import ArgumentParser

/// The `dray` command: runs container workflows.
public struct Dray: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dray",
        abstract: "Run container workflows: each step's output is the next step's standard input.",
        version: "0.1.0",
        subcommands: [
            JobRun.self, Serve.self, JobSubmit.self, JobList.self, JobGet.self, JobLogs.self, JobCancel.self,
            JobResume.self, JobRemove.self, JobOutput.self, JobTap.self, JobValidate.self, HealthCheck.self,
            ScheduleCommand.self, TokenCommand.self, AuditCommand.self, Completion.self,
        ]
    )

    public init() {}
}
