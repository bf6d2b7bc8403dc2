import DrayEngine
import DrayEngineTesting
import DraySQLite
import DrayServer
import DrayStoreTesting
import Foundation
import Logging
import NIOFileSystem
import Testing

/// The job service's queue, cancel, resume and stop requests, on a real SQLite store and a fake
/// runtime: no Docker. A step whose `SCRIPT` is `wait` runs until it is stopped.
@Suite("The job service, without Docker")
struct JobServiceTests {
    static func service(
        slots: Int = 1, maxLogBytes: Int? = nil, wrapping wrap: (SQLiteJobStore) -> any JobStore = { $0 }
    ) throws -> (JobService, SQLiteJobStore) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-service-\(UUID().uuidString)")
            .path
        let store = try SQLiteJobStore(path: folder + "/dray.sqlite")
        var configuration = JobService.Configuration()
        configuration.maxConcurrentJobs = slots
        configuration.pollInterval = .milliseconds(100)
        configuration.maxLogBytes = maxLogBytes
        let runtime = FakeRuntime { spec, input in
            let script = spec.environment.first { $0.hasPrefix("SCRIPT=") }.map { String($0.dropFirst(7)) } ?? ""
            if script == "wait" { return FakeRuntime.Outcome(waitsUntilStopped: true) }
            if script == "fail" { return FakeRuntime.Outcome(exitCode: 1) }
            if let count = Int(script.replacingOccurrences(of: "lines:", with: "")), script.hasPrefix("lines:") {
                return FakeRuntime.Outcome(writes: [(.stdout, (0..<count).map { "line \($0)\n" }.joined())])
            }
            return FakeRuntime.Outcome(writes: [(.stdout, input + script + "\n")])
        }
        return (
            JobService(
                store: wrap(store), runtime: runtime, spoolRoot: FilePath(folder + "/spool"),
                logger: Logger(label: "test"), configuration: configuration),
            store
        )
    }

    static func job(_ scripts: String...) -> Job {
        Job(steps: scripts.map { Step(source: "fake", environment: [.init(variable: "SCRIPT", value: $0)]) })
    }

    /// Runs the service's loops around `body`, then stops every job.
    static func running(_ service: JobService, _ body: () async throws -> Void) async throws {
        let loops = Task { await service.work() }
        defer { loops.cancel() }
        try await body()
        await service.stopAll()
    }

    static func ended(_ service: JobService, _ id: String) async throws -> JobRecord {
        for _ in 0..<300 {
            let record = try await service.job(id: id)
            if record.state.status != .running { return record }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("job \(id) did not end")
        return try await service.job(id: id)
    }

    @Test("the queue: one slot runs one job; the rest wait in the store, and start in order as slots free")
    func queue() async throws {
        let (service, store) = try Self.service(slots: 1)
        try await Self.running(service) {
            let blocker = try await service.submit(Self.job("wait"))
            let later = [try await service.submit(Self.job("a")), try await service.submit(Self.job("b"))]
            #expect(try await service.load() == (1, 2))
            #expect(try await store.job(id: later[0].id)?.state.phase == .queued)
            _ = try await service.cancel(id: blocker.id)
            for record in later { #expect(try await Self.ended(service, record.id).state.status == .complete) }
            let starts = try await later.asyncMap { try await service.job(id: $0.id).state.startedAt! }
            #expect(starts == starts.sorted(), "in the order they were submitted")
        }
    }

    @Test("cancel: a running job ends canceled, a queued one without starting, an ended one is a conflict")
    func cancel() async throws {
        let (service, _) = try Self.service(slots: 1)
        try await Self.running(service) {
            let running = try await service.submit(Self.job("wait"))
            let queued = try await service.submit(Self.job("a"))
            let canceledQueued = try await service.cancel(id: queued.id)
            #expect(canceledQueued.state.phase == .canceled && canceledQueued.state.startedAt == nil)
            let canceled = try await service.cancel(id: running.id)
            #expect(canceled.state.reason == .canceled, "\(canceled.state.error ?? "")")
            do {
                _ = try await service.cancel(id: running.id)
                Issue.record("a second cancel was taken")
            } catch let error as DrayError {
                #expect(error.code == .conflict)
            }
        }
    }

    @Test("two resumes at once: one runs the job again, the other is a conflict")
    func resumeOnce() async throws {
        let (service, _) = try Self.service(slots: 2)
        try await Self.running(service) {
            let failed = try await service.submit(Self.job("a", "fail"))
            #expect(try await Self.ended(service, failed.id).state.stepsCompleted == 1)
            let results = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<2 { group.addTask { (try? await service.resume(id: failed.id)) != nil } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 1)
            let again = try await Self.ended(service, failed.id)
            #expect(again.state.status == .error && again.state.steps[1].exitCode == 1)
        }
    }

    @Test("a state write whose answer was lost is tried again, and the job goes on: it was not fenced")
    func lostAnswer() async throws {
        let (service, store) = try Self.service { AnswerLosingStore($0, losses: 2) }
        try await Self.running(service) {
            let record = try await service.submit(Self.job("a", "b"))
            let ended = try await Self.ended(service, record.id)
            #expect(ended.state.status == .complete && ended.state.stepsCompleted == 2)
            let stored = try #require(try await store.job(id: record.id))
            #expect(stored.version >= 3, "claimed, then written twice at least, both answers lost")
        }
    }

    @Test("--max-log-bytes keeps the head and the tail of a log, with one line that says what was dropped")
    func maxLogBytes() async throws {
        let (service, store) = try Self.service(maxLogBytes: 100)
        try await Self.running(service) {
            let record = try await service.submit(Self.job("lines:1000"))
            #expect(try await Self.ended(service, record.id).state.status == .complete)
            let log = try await store.log(id: record.id, from: 0, limit: nil).map(\.text)
            // "line 0" … "line 7" are 50 bytes; the tail is as many bytes of the last lines.
            #expect(Array(log.prefix(8)) == (0..<8).map { "line \($0)" })
            #expect(log.last == "line 999")
            let note = try #require(log.first { $0.hasPrefix("… [") })
            #expect(
                note.contains("lines (") && note.contains("dropped here: the log is over --max-log-bytes 100"),
                "\(note)")
            #expect(log.count < 30, "\(log.count) lines kept of 1,000")
        }
    }

    @Test("a stop request another node wrote to the store stops the job here, within a poll")
    func stopRequest() async throws {
        let (service, store) = try Self.service()
        try await Self.running(service) {
            let record = try await service.submit(Self.job("wait"))
            for _ in 0..<100 where try await store.job(id: record.id)?.state.phase != .running {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await store.requestStop(id: record.id, .cancel))
            let ended = try await Self.ended(service, record.id)
            #expect(ended.state.reason == .canceled)
        }
    }
}

extension Array {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
