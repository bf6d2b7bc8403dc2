import ArgumentParser
import DrayAPI
import DrayEngine
import Foundation

/// `dray schedule add|ls|rm|pause|resume`: jobs on a clock.
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Run jobs on a clock: add, list, remove, pause and resume schedules.",
        subcommands: [Add.self, List.self, Remove.self, Pause.self, Resume.self])

    /// A schedule as `GET /schedules` answers it, as far as the verbs print it.
    struct Summary: Decodable {
        var id: String
        var cron: String
        var timeZone: String
        var paused: Bool
        var template: String?
        var job: Job?
        var nextRunAt: Date?
        var lastJob: String?

        /// One line: id, cron, time zone, state, next run, what it runs.
        var line: String {
            let next = nextRunAt.map { $0.formatted(.iso8601) } ?? "-"
            let what = template.map { "template \($0)" } ?? job?.name.map { "job \($0)" } ?? "job"
            return "\(id)  \(cron)  \(timeZone)  \(paused ? "paused" : "active")  next \(next)  \(what)"
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a job file on a clock; prints the schedule's id.",
            discussion: """
                The cron is five fields (minute hour day-of-month month day-of-week), @hourly, \
                @daily, @weekly, @monthly, @yearly, or @every 30s. With --template, the job is \
                that template's, with -p NAME=VALUE parameters, and no job file is given.
                """)

        @OptionGroup var client: ClientOptions
        @Option(help: "When it runs, as cron or @every DURATION.") var cron: String
        @Option(help: "The IANA time zone the cron is read in.") var timeZone = "UTC"
        @Option(help: "A stored template to run instead of a job file.") var template: String?
        @Option(name: .customShort("p"), help: ArgumentHelp("A template's parameter.", valueName: "name=value"))
        var param: [String] = []
        @Option(help: "A tick missed while every node was down: one (run it once) or none.") var catchUp = "one"
        @Flag(help: "Run a tick even while the previous tick's job still runs.") var overlap = false
        @Argument(help: ArgumentHelp("The job file, JSON or YAML; - reads standard input.", valueName: "file"))
        var file: String?

        func validate() throws {
            guard (file == nil) != (template == nil) else {
                throw ValidationError("give a job file or --template, one of the two")
            }
            guard param.isEmpty || template != nil else { throw ValidationError("-p goes with --template") }
        }

        func run() async throws {
            var body: [String: Any] = ["cron": cron, "timeZone": timeZone, "catchUp": catchUp, "overlap": overlap]
            if let file {
                let reading: JobDocument.Reading
                do {
                    reading = try JobFile.read(file, strict: false)
                } catch {
                    FileHandle.standardError.write(Data("dray: \(JobFile.name(file)): \(error.message)\n".utf8))
                    throw ExitCode(2)
                }
                JobFile.warn(reading.warnings, file: file)
                body["job"] = try JSONSerialization.jsonObject(
                    with: try JSONEncoder.keepingSecrets().encode(reading.job))
            }
            if let template {
                body["template"] = template
                var params: [String: String] = [:]
                for pair in param {
                    guard let equals = pair.firstIndex(of: "=") else {
                        throw ValidationError("-p takes NAME=VALUE, not \(pair)")
                    }
                    params[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
                }
                body["params"] = params
            }
            let api = try client.api
            let created = try await reporting {
                try await api.json(
                    Summary.self, .POST, "/schedules", body: try JSONSerialization.data(withJSONObject: body))
            }
            print(created.id)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List the schedules and their next runs.")
        @OptionGroup var client: ClientOptions

        struct Page: Decodable { var schedules: [Summary] }

        func run() async throws {
            let api = try client.api
            for schedule in try await reporting({ try await api.json(Page.self, .GET, "/schedules") }).schedules {
                print(VisibleText.shown(schedule.line, raw: client.raw))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove schedules; their jobs stay.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The schedules' ids.") var ids: [String]

        func run() async throws {
            let api = try client.api
            for id in ids {
                _ = try await reporting { try await api.send(.DELETE, "/schedules/\(id)") }
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause schedules: no tick runs until resumed.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The schedules' ids.") var ids: [String]

        func run() async throws {
            try await ScheduleCommand.post(ids, "pause", client: client, command: self)
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume paused schedules; the ticks missed while paused do not run.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The schedules' ids.") var ids: [String]

        func run() async throws {
            try await ScheduleCommand.post(ids, "resume", client: client, command: self)
        }
    }

    /// `POST /schedules/{id}/ACTION` for each id, printing each schedule's line.
    static func post(
        _ ids: [String], _ action: String, client: ClientOptions, command: some AsyncParsableCommand
    ) async throws {
        let api = try client.api
        for id in ids {
            let schedule = try await command.reporting {
                try await api.json(Summary.self, .POST, "/schedules/\(id)/\(action)")
            }
            print(VisibleText.shown(schedule.line, raw: client.raw))
        }
    }
}
