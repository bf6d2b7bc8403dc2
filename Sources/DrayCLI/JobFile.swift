import DrayEngine
import Foundation

/// A job file as the verbs read it: a path, or `-` for standard input; JSON or YAML.
enum JobFile {
    /// How messages name the file.
    static func name(_ file: String) -> String { file == "-" ? "stdin" : file }

    /// The file's bytes.
    static func data(_ file: String) throws(DrayError) -> Data {
        do {
            if file == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
            return try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw DrayError(.invalidJob, "cannot read the job file: \((error as NSError).localizedDescription)")
        }
    }

    /// The job in the file and its warnings; with `strict`, a warning is a problem.
    static func read(_ file: String, strict: Bool) throws(DrayError) -> JobDocument.Reading {
        try JobDocument.read(try data(file), strict: strict)
    }

    /// Writes each warning to stderr, as `dray: FILE: warning: …`.
    static func warn(_ warnings: [String], file: String) {
        for warning in warnings {
            FileHandle.standardError.write(Data("dray: \(name(file)): warning: \(warning)\n".utf8))
        }
    }
}
