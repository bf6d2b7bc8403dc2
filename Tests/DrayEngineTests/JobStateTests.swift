import DrayEngine
import Foundation
import Testing

/// The transitions of ``JobState``: every way a job's status and phase change.
@Suite("A job's state and its transitions")
struct JobStateTests {
    let job = Job(steps: [Step(source: "a"), Step(name: "upper", source: "b"), Step(source: "c")])

    @Test("queued, pulling, running, each step's end, complete")
    func runsToTheEnd() {
        let created = Date(timeIntervalSince1970: 100)
        var state = JobState(stepCount: 3, createdAt: created)
        #expect(state.status == .running && state.phase == .queued && state.startedAt == nil)
        state.start(at: Date(timeIntervalSince1970: 101))
        state.start(at: Date(timeIntervalSince1970: 999))
        #expect(state.startedAt == Date(timeIntervalSince1970: 101), "a job carried on keeps its first start")
        for index in 0..<3 {
            state.preparing(step: index, fresh: StepState(attempts: []))
            #expect(state.phase == .pulling && state.currentStep == index && state.steps[index].attempts == [])
            state.running(step: index, at: Date(timeIntervalSince1970: 102))
            #expect(state.phase == .running && state.steps[index].startedAt == Date(timeIntervalSince1970: 102))
            state.stepSucceeded(index, outputBytes: 7, at: Date(timeIntervalSince1970: 103))
            #expect(state.stepsCompleted == index + 1 && state.steps[index].exitCode == 0)
            #expect(state.steps[index].outputBytes == 7 && state.steps[index].finishedAt != nil)
        }
        state.complete(at: Date(timeIntervalSince1970: 104))
        #expect(state.status == .complete && state.phase == .complete && state.currentStep == nil)
        #expect(state.finishedAt == Date(timeIntervalSince1970: 104) && state.error == nil && state.reason == nil)
    }

    @Test("fail, cancel, shutdown, node lost and restarted each end in error with their phase and reason")
    func endsInError() {
        func ended(_ change: (inout JobState) -> Void) -> JobState {
            var state = JobState(stepCount: 3)
            state.preparing(step: 1)
            state.running(step: 1)
            change(&state)
            #expect(state.status == .error && state.currentStep == nil && state.finishedAt != nil)
            return state
        }
        let failed = ended { $0.fail("step 2 exited with code 3") }
        #expect(failed.phase == .failed && failed.reason == .failed && failed.error == "step 2 exited with code 3")
        let canceled = ended { $0.cancel("upper was canceled") }
        #expect(canceled.phase == .canceled && canceled.reason == .canceled)
        let shutdown = ended { $0.cancel("stopped", reason: .shutdown) }
        #expect(shutdown.phase == .canceled && shutdown.reason == .shutdown)
        let lost = ended { $0.lose(node: "n1", job: job) }
        #expect(lost.phase == .failed && lost.reason == .nodeLost)
        #expect(lost.error == "node n1 stopped answering while the job ran (step 2 \"upper\"): its lease ran out")
        let restarted = ended { $0.restarted() }
        #expect(restarted.reason == .restarted && restarted.error == JobState.restartMessage)
    }

    @Test("a resume starts at the failed step (a streaming job at the first) and forgets the steps from there")
    func resumes() {
        var state = JobState(stepCount: 3)
        for index in 0..<2 { state.stepSucceeded(index, outputBytes: 1) }
        state.preparing(step: 2)
        state.fail("step 3 exited with code 1")
        #expect(state.resumeStep(of: job) == 2)
        var streaming = job
        streaming.streaming = true
        #expect(state.resumeStep(of: streaming) == 0)
        var complete = JobState(stepCount: 3)
        for index in 0..<3 { complete.stepSucceeded(index, outputBytes: 1) }
        #expect(complete.resumeStep(of: job) == 2, "never past the last step")

        state.requeue(from: 2)
        #expect(state.status == .running && state.phase == .queued && state.stepsCompleted == 2)
        #expect(state.error == nil && state.reason == nil && state.finishedAt == nil && state.currentStep == nil)
        #expect(state.steps[1].exitCode == 0 && state.steps[2] == StepState(), "the steps before it are kept")
        state.rewind(to: 0)
        #expect(state.stepsCompleted == 0 && state.steps.allSatisfy { $0 == StepState() })
    }

    @Test("a job the original Dray wrote reads from its status and counts")
    func legacy() {
        let complete = JobState(legacyStatus: "complete", stepsCompleted: 3, stepCount: 3)
        #expect(complete.status == .complete && complete.phase == .complete && complete.stepsCompleted == 3)
        let error = JobState(legacyStatus: "error", stepsCompleted: 1, stepCount: 3)
        #expect(error.status == .error && error.phase == .failed)
        let running = JobState(legacyStatus: "running", stepsCompleted: 0, stepCount: 2)
        #expect(running.status == .running && running.phase == .running && running.steps.count == 2)
        let unknown = JobState(legacyStatus: nil, stepsCompleted: 0, stepCount: 1)
        #expect(unknown.status == .running && unknown.phase == .queued)
    }

    @Test(
        "a graph's steps: waiting, running, ended each their way; a failure cancels what runs; a resume what did not complete"
    )
    func graphSteps() {
        var state = JobState(stepCount: 4)
        state.waitingForNeeds()
        #expect(state.steps.allSatisfy { $0.status == .waiting })
        state.preparing(step: 0)
        #expect(state.phase == .pulling && state.steps[0].status == .running)
        state.running(step: 0)
        state.preparing(step: 1)
        #expect(state.phase == .running, "another step runs: the job is running, not pulling")
        state.stepSucceeded(0, outputBytes: 3)
        state.stepEnded(2, as: .skipped)
        #expect(state.steps[0].status == .complete && state.steps[2].status == .skipped)
        #expect(state.steps[2].finishedAt == nil, "a skipped step never ran")
        state.fail("step 2 exited with code 1")
        #expect(state.steps.map(\.status) == [.complete, .canceled, .skipped, .waiting])
        state.runAfterStream()
        #expect(state.status == .running && state.error == "step 2 exited with code 1" && state.finishedAt == nil)
        state.requeueGraph()
        #expect(state.steps.map(\.status) == [.complete, .waiting, .waiting, .waiting] && state.stepsCompleted == 1)
        var chain = JobState(stepCount: 2)
        chain.stepEnded(1, as: .failed, exitCode: 2)
        #expect(chain.steps[1].status == nil && chain.steps[1].exitCode == 2, "a chain's steps have no status")
    }

    @Test("a durable streaming job resumes from the first step not done; another streaming job from the start")
    func durableResume() {
        var job = job
        job.streaming = true
        var state = JobState(stepCount: 3)
        state.runningAll()
        state.stepSucceeded(0, outputBytes: 10)
        state.stepSucceeded(1, outputBytes: 10)
        state.stepEnded(2, as: .failed, exitCode: 4)
        state.fail("step 3 exited with code 4")
        #expect(state.resumeStep(of: job) == 0 && state.resumeInputs(of: job) == [])
        job.durable = true
        #expect(state.durableDone(of: job) == [0, 1])
        #expect(state.resumeStep(of: job) == 2 && state.resumeInputs(of: job) == [1])
        // A step that exited 0 after one before it failed read only part of its input: not done.
        var early = JobState(stepCount: 3)
        early.runningAll()
        early.stepSucceeded(0, outputBytes: 10)
        early.stepSucceeded(2, outputBytes: 1)
        early.stepEnded(1, as: .failed, exitCode: 1)
        #expect(early.durableDone(of: job) == [0] && early.resumeStep(of: job) == 1)
        early.requeueForResume(of: job)
        #expect(early.stepsCompleted == 1 && early.steps[2].exitCode == nil)
    }
}
