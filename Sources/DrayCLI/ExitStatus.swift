/// The exit status of `dray run` and `dray submit --watch` for a job that did not complete.
enum ExitStatus {
    /// The last failing step's exit code, when it is one a process can exit with; 130 for a
    /// canceled job, as for a shell's interrupted command; else 1.
    static func forFailedJob(exitCodes: [Int32?], canceled: Bool) -> Int32 {
        if canceled { return 130 }
        let code = exitCodes.compactMap { $0 }.last { $0 != 0 } ?? 1
        return (1...255).contains(code) ? code : 1
    }
}
