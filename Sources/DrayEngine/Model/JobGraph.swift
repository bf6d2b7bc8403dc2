import Foundation

/// How a step with several needs gets their outputs.
public enum FanIn: String, Codable, Sendable, CaseIterable {
    /// On stdin, one after the other, in the order of `needs`.
    case concat
    /// Each as the file `/dray/inputs/<name>` in the container, with empty stdin.
    case files
}

/// When a step of a graph runs, given how the steps it needs ended.
public enum StepCondition: String, Codable, Sendable, CaseIterable {
    /// Every needed step completed (the default).
    case success
    /// Some needed step, or any step of the job before this one's needs ended, failed: for
    /// clean-ups and notifications.
    case failure
    /// Once the needed steps ended, however.
    case always
}

/// A job's steps as a graph: who reads whose output. A job with no `needs` is a chain, step k
/// reading step k-1; one with `needs` on any step is a graph whose edges its `needs` name. Both
/// are run by the same scheduler.
public struct JobGraph: Sendable, Equatable {
    /// For each step, the steps whose output it reads, in the order of its `needs`.
    public let needs: [[Int]]
    /// For each step, the steps that read its output.
    public let consumers: [[Int]]
    /// The steps in an order where each comes after those it needs (Kahn's algorithm).
    public let order: [Int]
    /// For each step, the longest path to it from a root: its column when drawn.
    public let depth: [Int]
    /// Whether the job said `needs` (false for the seed's chains).
    public let isGraph: Bool

    /// The graph of a valid job (``JobDocument/problems(in:)`` reports what else there is).
    /// Unknown names and cycles are left out of it, so that it can be built from any job.
    public init(_ job: Job) {
        let count = job.steps.count
        isGraph = job.steps.contains { $0.needs != nil }
        var needs: [[Int]] = []
        if isGraph {
            var index: [String: Int] = [:]
            for (position, step) in job.steps.enumerated() {
                if let name = step.name, index[name] == nil { index[name] = position }
            }
            needs = job.steps.enumerated().map { position, step in
                var seen = Set<Int>()
                return (step.needs ?? []).compactMap { index[$0] }.filter { $0 != position && seen.insert($0).inserted }
            }
        } else {
            needs = (0..<count).map { $0 == 0 ? [] : [$0 - 1] }
        }
        var consumers = [[Int]](repeating: [], count: count)
        for (consumer, producers) in needs.enumerated() {
            for producer in producers { consumers[producer].append(consumer) }
        }
        // Kahn's algorithm: the roots first, then each step once all it needs are placed.
        var waiting = needs.map(\.count)
        var ready = (0..<count).filter { waiting[$0] == 0 }
        var order: [Int] = []
        var depth = [Int](repeating: 0, count: count)
        while !ready.isEmpty {
            let step = ready.removeFirst()
            order.append(step)
            for consumer in consumers[step] {
                depth[consumer] = max(depth[consumer], depth[step] + 1)
                waiting[consumer] -= 1
                if waiting[consumer] == 0 { ready.append(consumer) }
            }
        }
        self.needs = needs
        self.consumers = consumers
        self.order = order
        self.depth = depth
    }

    /// In a streaming job, the steps that run once the streamed ones have ended: those whose
    /// `when` is `failure` or `always`, and every step that needs one of them. They read spools.
    public func afterStream(_ job: Job) -> Set<Int> {
        var after = Set<Int>()
        for step in order
        where job.steps[step].when.map({ $0 != .success }) ?? false
            || needs[step].contains(where: after.contains)
        {
            after.insert(step)
        }
        return after
    }

    /// The steps on a cycle (or waiting on one), which the order leaves out.
    public var cyclic: [Int] {
        let placed = Set(order)
        return needs.indices.filter { !placed.contains($0) }
    }

    /// Every problem of the job's graph, one message each, naming the field: names missing or
    /// twice, a need that names no step (with the name that was probably meant), a step that
    /// needs itself, a cycle, and what the streaming mode cannot run.
    static func problems(in job: Job) -> [String] {
        guard job.steps.contains(where: { $0.needs != nil }) else {
            var problems: [String] = []
            for (index, step) in job.steps.enumerated() {
                if step.inputs != nil {
                    problems.append("steps[\(index)].inputs needs needs: a chain's step reads one input")
                }
                if step.when != nil {
                    problems.append("steps[\(index)].when needs needs: a chain stops at its first failure")
                }
            }
            if job.parallelism != nil {
                problems.append("parallelism needs steps with needs: a chain runs one step at a time")
            }
            return problems
        }
        var problems: [String] = []
        var first: [String: Int] = [:]
        for (index, step) in job.steps.enumerated() {
            guard let name = step.name, !name.isEmpty else {
                problems.append("steps[\(index)].name is required when steps say needs: needs name the steps")
                continue
            }
            if let earlier = first[name] {
                problems.append(
                    "steps[\(index)].name \"\(name)\" is also the name of steps[\(earlier)]: names must be unique")
            } else {
                first[name] = index
            }
        }
        let names = job.steps.compactMap(\.name)
        for (index, step) in job.steps.enumerated() {
            var seen = Set<String>()
            for (position, need) in (step.needs ?? []).enumerated() {
                let path = "steps[\(index)].needs[\(position)]"
                if need == step.name {
                    problems.append("\(path): a step cannot need itself")
                } else if first[need] == nil {
                    var message = "\(path): no step is named \"\(need)\""
                    if let suggestion = UnknownFields.closest(to: need, in: names) {
                        message += "; did you mean \"\(suggestion)\"?"
                    }
                    problems.append(message)
                } else if !seen.insert(need).inserted {
                    problems.append("\(path): \"\(need)\" is needed twice")
                }
            }
            if step.inputs != nil, (step.needs?.count ?? 0) < 2 {
                problems.append("steps[\(index)].inputs needs two needs or more: it says how several inputs are given")
            }
        }
        if let parallelism = job.parallelism, !(1...JobDocument.Limits.steps).contains(parallelism) {
            problems.append("parallelism must be a whole number from 1 to \(JobDocument.Limits.steps)")
        }
        let graph = JobGraph(job)
        let cyclic = graph.cyclic
        if !cyclic.isEmpty {
            let named = cyclic.map { "\"\(job.steps[$0].name ?? "steps[\($0)]")\"" }.joined(separator: ", ")
            problems.append("steps[\(cyclic[0])].needs makes a cycle: \(named) need each other, so none can start")
        }
        if job.streaming == true {
            let after = graph.afterStream(job)
            for (index, step) in job.steps.enumerated() where !after.contains(index) {
                if case .file = step.outputChannel, graph.consumers[index].contains(where: { !after.contains($0) }) {
                    problems.append(
                        "steps[\(index)].output cannot be a file in a streaming job when other steps need it: they read as it runs"
                    )
                }
            }
        }
        return problems
    }
}

extension JobDocument {
    /// The name in `names` that `name` was probably meant to be (a typo's edit away), if any.
    public static func closestName(to name: String, in names: [String]) -> String? {
        UnknownFields.closest(to: name, in: names)
    }
}
