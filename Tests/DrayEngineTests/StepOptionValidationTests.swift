import DrayEngine
import Foundation
import Testing

@Suite("A step's docker run options, checked")
struct StepOptionValidationTests {
    @Test(
        "memory sizes as docker run takes them",
        arguments: [
            ("512m", Int64(512 << 20)), ("1G", 1 << 30), ("65536", 65536), ("64k", 64 << 10), ("7b", 7),
        ])
    func sizes(_ text: String, _ bytes: Int64) {
        #expect(MemorySize(text)?.bytes == bytes)
    }

    @Test("what is not a size", arguments: ["", "m", "-1", "12q", "1.5g", "99999999999999999999g", "１m"])
    func notSizes(_ text: String) {
        #expect(MemorySize(text) == nil)
    }

    private func problems(_ step: String) -> [String] {
        JobDocument.inspect(Data(#"{"steps":[{"source":"x",\#(step)}]}"#.utf8)).problems
    }

    @Test("each option's mistake names its field")
    func mistakes() {
        #expect(problems(#""workingDir":"tmp""#) == [#"steps[0].workingDir must be an absolute path, not "tmp""#])
        #expect(
            problems(#""user":"a b""#) == [
                #"steps[0].user must be a user name or id, optionally :group, as docker run --user takes it, not "a b""#
            ])
        #expect(
            problems(#""memory":"1m""#) == [
                "steps[0].memory must be at least 6 MiB (the engine's least), not 1048576 bytes"
            ])
        #expect(
            problems(#""memory":"lots""#) == [
                #"steps[0].memory must be a number of bytes or a size such as "512m" or "1g", not "lots""#
            ])
        #expect(
            problems(#""cpus":0"#) == ["steps[0].cpus must be a number from 0.01 (the engine's least) to 1024, not 0.0"]
        )
        // Less than the engine's least rounds to no limit at all: refused, not rounded.
        #expect(
            problems(#""cpus":1e-12"#) == [
                "steps[0].cpus must be a number from 0.01 (the engine's least) to 1024, not 1e-12"
            ])
        #expect(problems(#""pidsLimit":0"#) == ["steps[0].pidsLimit must be a whole number from 1 to 4194304"])
        #expect(problems(#""pidsLimit":1.5"#) == ["steps[0].pidsLimit must be a whole number, not 1.5"])
        #expect(
            problems(#""network":"host""#) == [
                #"steps[0].network cannot be "host": a step never shares the host's or another container's network"#
            ])
        #expect(
            problems(#""network":"container:db""#) == [
                #"steps[0].network cannot be "container:db": a step never shares the host's or another container's network"#
            ])
        #expect(
            problems(#""command":["a\u0000b"]"#) == ["steps[0].command must not contain a NUL character"])
        #expect(
            problems(
                #""command":["sh"],"entrypoint":[],"workingDir":"/w","user":"1000:1000","memory":67108864,"cpus":0.5,"pidsLimit":10,"network":"none""#
            )
            .isEmpty)
    }

    @Test("a server's ceilings: each step that asks for more is named")
    func ceilings() throws {
        let job = try JobDocument.decode(
            Data(#"{"steps":[{"source":"x","memory":"2g","cpus":4},{"source":"y","pidsLimit":5}]}"#.utf8))
        let limits = StepLimits(memory: MemorySize("1g"), cpus: 2, pids: 10)
        #expect(
            limits.problems(in: job) == [
                "steps[0].memory asks for 2147483648 bytes; this server allows at most 1073741824",
                "steps[0].cpus asks for 4.0; this server allows at most 2.0",
            ])
        #expect(StepLimits().problems(in: job).isEmpty)
    }

    @Test("a stopGracePeriod above the server's --max-stop-grace is named; the default ceiling is 30 s")
    func graceCeiling() throws {
        let job = try JobDocument.decode(
            Data(#"{"steps":[{"source":"x","stopGracePeriod":3600},{"source":"y","stopGracePeriod":30}]}"#.utf8))
        #expect(
            StepLimits().problems(in: job) == [
                "steps[0].stopGracePeriod asks for 3600.0 s; this server allows at most 30.0 s (--max-stop-grace)"
            ])
        #expect(StepLimits(maxStopGrace: 5).problems(in: job).count == 2)
    }
}
