import DrayEngine
import Foundation
import Prometheus

/// What `GET /metrics` reports, in Prometheus' text format: jobs and steps as they end, the
/// queue, log lines, and the API's requests. Owned by a ``JobService``; each server has its own
/// registry (no process-wide state), so servers in one process do not mix their figures.
public final class DrayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    private let running: Gauge
    private let queued: Gauge
    private let queueWait: DurationHistogram
    private let jobDuration: DurationHistogram
    private let stepDuration: DurationHistogram
    private let logLines: Counter
    private let outputBytes: Counter
    private let edgeThroughput: ValueHistogram
    private let edgeBlocked: DurationHistogram
    private let edgeWaited: DurationHistogram
    private let stepGap: DurationHistogram

    /// Bytes a second, from a trickle to the speed of memory.
    static let throughputBuckets: [Double] = [1e3, 1e4, 1e5, 1e6, 1e7, 5e7, 1e8, 2.5e8, 5e8, 1e9, 2e9, 5e9]

    /// Seconds, from a trivial step to a long job.
    static let buckets: [Duration] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600].map {
        .milliseconds(Int64($0 * 1000))
    }

    /// Seconds, for the gap between two steps: from a few engine calls to a pull.
    static let gapBuckets: [Duration] = [0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1, 2.5, 10].map {
        .milliseconds(Int64($0 * 1000))
    }

    /// Seconds, for API requests.
    static let requestBuckets: [Duration] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10].map {
        .microseconds(Int64($0 * 1_000_000))
    }

    /// `node` labels the gauges, which are this node's alone; nil leaves them unlabelled.
    public init(node: String? = nil, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let labels = node.map { [("node", $0)] } ?? []
        running = registry.makeGauge(
            descriptor: Self.name("jobs_running", help: "Jobs running now, on this node."), labels: labels)
        queued = registry.makeGauge(
            descriptor: Self.name("jobs_queued", help: "Jobs waiting for a slot now, on this node."), labels: labels)
        queueWait = registry.makeDurationHistogram(
            descriptor: Self.name(
                "job_queue_wait", unit: "seconds", help: "How long jobs waited for a slot before they started."),
            buckets: Self.buckets)
        jobDuration = registry.makeDurationHistogram(
            descriptor: Self.name("job_duration", unit: "seconds", help: "How long jobs ran, start to end."),
            buckets: Self.buckets)
        stepDuration = registry.makeDurationHistogram(
            descriptor: Self.name(
                "step_duration", unit: "seconds",
                help: "How long steps ran (a retried step: from its first attempt to its last)."),
            buckets: Self.buckets)
        logLines = registry.makeCounter(
            descriptor: Self.name("log_lines", unit: "total", help: "Log lines the steps wrote."))
        outputBytes = registry.makeCounter(
            descriptor: Self.name(
                "step_output_bytes", unit: "total",
                help: "Bytes that steps passed on: to the next step's stdin, or as the job's output."))
        edgeThroughput = registry.makeValueHistogram(
            descriptor: Self.name(
                "edge_throughput", unit: "bytes_per_second",
                help: "Steps that passed something on, by the bytes a second they passed on while they ran."),
            buckets: Self.throughputBuckets)
        edgeBlocked = registry.makeDurationHistogram(
            descriptor: Self.name(
                "edge_blocked", unit: "seconds",
                help: "Live pipes of streaming jobs, by how long their producer waited for a slower consumer."),
            buckets: Self.buckets)
        edgeWaited = registry.makeDurationHistogram(
            descriptor: Self.name(
                "edge_waited", unit: "seconds",
                help: "Live pipes of streaming jobs, by how long their consumer waited for bytes."),
            buckets: Self.buckets)
        stepGap = registry.makeDurationHistogram(
            descriptor: Self.name(
                "step_gap", unit: "seconds",
                help:
                    "Steps that started after the step before them ended, by the time from that end to their first byte."
            ),
            buckets: Self.gapBuckets)
    }

    /// Seconds, for calls to the engine: from a ping to a `wait` as long as a step.
    static let engineBuckets = requestBuckets + [30, 300, 3600].map { Duration.seconds($0) }

    /// `dray_NAME_UNIT`, as Prometheus' conventions have it (`_total` for counters, base units).
    static func name(_ name: String, unit: String = "", help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "dray", metricName: name, unitName: unit, helpText: help)
    }

    /// The running jobs, and the queued ones when counted, as they are now.
    func jobs(running count: Int, queued waiting: Int?) {
        running.set(Int64(count))
        if let waiting { queued.set(Int64(waiting)) }
    }

    func jobStarted(waited: Duration) {
        queueWait.record(waited)
    }

    /// A try of a webhook delivery: delivered (then how long after its making, a job's start
    /// or end), or not.
    func webhookSent(delivered: Bool, latency: TimeInterval) {
        registry.makeCounter(
            descriptor: Self.name(
                "webhook_tries", unit: "total", help: "Tries to deliver a webhook, by their outcome."),
            labels: [("outcome", delivered ? "delivered" : "refused")]
        ).increment()
        if delivered {
            registry.makeDurationHistogram(
                descriptor: Self.name(
                    "webhook_delivery_latency", unit: "seconds",
                    help: "Webhooks delivered, by the time from the job's start or end to the answer."),
                buckets: Self.requestBuckets + Self.buckets.filter { $0 > .seconds(10) }
            ).record(.milliseconds(Int64(latency * 1000)))
        }
    }

    /// A cached step's lookup: a hit (the step did not run) or a miss.
    public func cacheLookup(hit: Bool) {
        registry.makeCounter(
            descriptor: Self.name(
                hit ? "cache_hits" : "cache_misses", unit: "total",
                help: hit
                    ? "Steps that reused a cached output rather than run."
                    : "Steps that said cache and found no output to reuse.")
        ).increment()
    }

    func logged(lines: Int) {
        logLines.increment(by: Int64(lines))
    }

    /// A job's end: its status and reason, its duration and its steps'.
    func jobEnded(_ state: JobState) {
        registry.makeCounter(
            descriptor: Self.name("jobs_ended", unit: "total", help: "Jobs that ended, by status and reason."),
            labels: [("status", state.status.rawValue), ("reason", state.reason?.rawValue ?? "none")]
        ).increment()
        if let started = state.startedAt, let finished = state.finishedAt {
            jobDuration.record(.seconds(max(0, finished.timeIntervalSince(started))))
        }
        for gap in state.stepGaps { stepGap.record(.milliseconds(Int64(gap * 1000))) }
        let passed = state.steps.compactMap(\.outputBytes).reduce(0, +)
        if passed > 0 { outputBytes.increment(by: passed) }
        for step in state.steps where step.startedAt != nil {
            let result = step.exitCode.map { $0 == 0 ? "success" : "failure" } ?? "stopped"
            registry.makeCounter(
                descriptor: Self.name(
                    "steps", unit: "total",
                    help: "Steps that ran, by how they ended (success, failure, or stopped with no exit code)."),
                labels: [("result", result)]
            ).increment()
            if let started = step.startedAt, let finished = step.finishedAt {
                let seconds = finished.timeIntervalSince(started)
                stepDuration.record(.seconds(max(0, seconds)))
                if let bytes = step.outputBytes, bytes > 0, seconds > 0 {
                    edgeThroughput.record(Double(bytes) / seconds)
                }
            }
            if let input = step.input {
                edgeBlocked.record(.milliseconds(Int64(input.blockedSeconds * 1000)))
                edgeWaited.record(.milliseconds(Int64(input.waitedSeconds * 1000)))
            }
        }
    }

    /// One call to the engine, by its route's pattern (`POST /containers/{id}/start`), and how
    /// long the engine took to answer.
    public func engineCall(_ call: String, duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: Self.name(
                "engine_call_duration", unit: "seconds",
                help:
                    "Calls to the container engine, by method and route (POST /containers/{id}/wait lasts as long as the step)."
            ),
            labels: [("call", call)],
            buckets: Self.engineBuckets
        ).record(duration)
    }

    /// One API request: its route (the pattern, not the path), method, status and duration.
    func request(method: String, route: String, status: Int, duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: Self.name(
                "http_request_duration", unit: "seconds", help: "API requests, by route, method and status."),
            labels: [("method", method), ("route", route), ("status", String(status))],
            buckets: Self.requestBuckets
        ).record(duration)
    }
}
