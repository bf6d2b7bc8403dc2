import DrayEngine

/// How the client verbs show a log line, the same in `run`, `submit --watch`, `resume --watch`
/// and `logs`: `[name] text` for stdout and `[name:err] text` for stderr, where the name is the
/// step's own or its image's last path component.
struct StepPrefix {
    let names: [String]
    let raw: Bool

    init(steps: [Step], raw: Bool) {
        self.raw = raw
        names = steps.map { step in
            if let name = step.name, !name.isEmpty { return VisibleText.shown(name, raw: raw) }
            let repository = (try? ImageReference(parsing: step.source))?.repository ?? step.source
            return VisibleText.shown(String(repository.split(separator: "/").last ?? Substring(repository)), raw: raw)
        }
    }

    /// Step `step`'s name (from 0), or `step N` for one the job does not have.
    func name(of step: Int) -> String {
        names.indices.contains(step) ? names[step] : "step \(step + 1)"
    }

    /// The line as shown, its control characters escaped unless `raw`.
    func line(_ text: String, step: Int, stream: StandardStream) -> String {
        "[\(name(of: step))\(stream == .stderr ? ":err" : "")] \(VisibleText.shown(text, raw: raw))"
    }
}
