import DrayEngine
import Foundation

/// What `dray` shows on stderr while a job runs: its log lines, prefixed by their step, and
/// on a terminal a status line with the step, its name and the time it has taken.
actor Console: JobObserver {
    private let quiet: Bool
    /// Write lines and names as they are (`--raw`), rather than with control characters escaped.
    private let raw: Bool
    private let isTerminal: Bool
    /// Each step's name in log prefixes: its own, or its image's last path component.
    private var prefix = StepPrefix(steps: [], raw: false)
    private var state: JobState?
    private var stepStarted = ContinuousClock.now
    /// The latest pull progress of the step being prepared.
    private var pullProgress: String?

    init(quiet: Bool, raw: Bool) {
        self.quiet = quiet
        self.raw = raw
        isTerminal = isatty(2) == 1
    }

    /// Runs `body` with `job`'s status line kept up to date on a terminal.
    func track<T: Sendable>(_ job: Job, _ body: @Sendable () async -> T) async -> T {
        prefix = StepPrefix(steps: job.steps, raw: raw)
        guard isTerminal && !quiet else { return await body() }
        return await withTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    await self.redraw()
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            let result = await body()
            group.cancelAll()
            clearStatus()
            return result
        }
    }

    /// Prints a one-line error.
    func fail(_ message: String) {
        clearStatus()
        FileHandle.standardError.write(Data("dray: \(VisibleText.shown(message, raw: raw))\n".utf8))
    }

    func jobDidChange(_ state: JobState) {
        if state.currentStep != self.state?.currentStep || state.phase != self.state?.phase, state.phase == .running {
            stepStarted = .now
            pullProgress = nil
        }
        if let index = self.state?.currentStep, state.steps[index].exitCode != nil, !quiet, isTerminal,
            self.state?.steps[index].exitCode == nil
        {
            let seconds = (ContinuousClock.now - stepStarted).formatted(
                .units(allowed: [.seconds], fractionalPart: .show(length: 2)))
            let code = state.steps[index].exitCode!
            emit(
                "\(code == 0 ? "✓" : "✗") step \(index + 1)/\(state.steps.count) \(name(of: index)) \(code == 0 ? "done" : "exited with code \(code)") in \(seconds)"
            )
        }
        self.state = state
        redraw()
    }

    func jobDidLog(_ lines: [LogLine]) {
        guard !quiet else { return }
        var text = ""
        for line in lines { text += prefix.line(line.text, step: line.step, stream: line.stream) + "\n" }
        emit(text, newline: false)
    }

    func jobDidPull(step: Int, progress: String) {
        guard !quiet else { return }
        if isTerminal {
            pullProgress = progress
            redraw()
        } else if !progress.contains("[") {
            emit("[\(name(of: step))] pull: \(progress)")
        }
    }

    private func name(of step: Int) -> String {
        prefix.name(of: step)
    }

    private func emit(_ text: String, newline: Bool = true) {
        clearStatus()
        FileHandle.standardError.write(Data((newline ? text + "\n" : text).utf8))
        redraw()
    }

    private func redraw() {
        guard isTerminal, !quiet, let state, let index = state.currentStep, state.status == .running else { return }
        let detail: String
        if state.phase == .pulling {
            detail = "pulling" + (pullProgress.map { ": \($0)" } ?? "")
        } else {
            detail = (ContinuousClock.now - stepStarted).formatted(
                .units(allowed: [.seconds], fractionalPart: .show(length: 1)))
        }
        let status = "▸ step \(index + 1)/\(state.steps.count) \(name(of: index)) · \(detail)"
        FileHandle.standardError.write(Data("\r\u{1B}[K\(status.prefix(100))".utf8))
    }

    private func clearStatus() {
        guard isTerminal, !quiet else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
