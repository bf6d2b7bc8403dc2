import ArgumentParser
import DrayEngine
import Foundation

/// `dray validate FILE…`: checks job files as the server would, with no engine and no server.
struct JobValidate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check job files without running them: every problem and warning, with its file and field.",
        discussion: """
            Each file is JSON or YAML (- reads standard input). A problem is what makes the \
            server refuse the job; a warning is a field Dray does not know, which the server \
            accepts and leaves out. Exit status: 0 when every file is valid, 2 when any is not \
            (with --strict, also when any has a warning).
            """)

    @Argument(help: ArgumentHelp("The job files.", valueName: "file"))
    var files: [String]

    @Flag(help: "Count a field Dray does not know as a problem.")
    var strict = false

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one job file") }
    }

    func run() async throws {
        var failed = false
        for file in files {
            let name = JobFile.name(file)
            let inspection: JobDocument.Inspection
            do {
                inspection = JobDocument.inspect(try JobFile.data(file))
            } catch {
                inspection = JobDocument.Inspection(problems: [error.message], warnings: [])
            }
            for problem in inspection.problems { print("\(name): error: \(problem)") }
            for warning in inspection.warnings { print("\(name): warning: \(warning)") }
            let invalid = !inspection.problems.isEmpty || (strict && !inspection.warnings.isEmpty)
            failed = failed || invalid
            let count = inspection.warnings.count
            let warnings = count == 0 ? "" : ", \(count) warning\(count == 1 ? "" : "s")"
            print("\(name): \(invalid ? "invalid" : "valid")\(warnings)")
        }
        if failed { throw ExitCode(2) }
    }
}
