import Foundation
import Testing

/// The tests that load the machine most, one at a time: a 100 MB pipe whose memory is measured,
/// the fuzzer, and the image tests with their containers and docker-compose. Run together on
/// 2 cores, the CPU starvation they cause made the 100 MB test's memory bound fail.
@Suite("Heavy tests, one at a time", .serialized)
struct HeavyTests {}

extension HeavyTests {
    /// `dray run` on much data: the bytes are spooled on disk, not kept in memory.
    @Suite("dray run with 100 MB")
    struct LargeRunTests {
        @Test("100 MB pass byte for byte through 2 steps while dray's memory stays small")
        func largeData() async throws {
            // 100 MiB of the bytes 0…255 over and over: every byte value, CR, LF and NUL among them.
            let job = try RunCommandTests.jobFile(
                #"""
                steps:
                  - name: generate
                    source: dray-test/sh
                    environment:
                      - variable: SCRIPT
                        value: >-
                          i=0; f=""; while [ $i -lt 256 ]; do f="$f\\$(printf %03o $i)"; i=$((i+1)); done;
                          printf "$f" > /tmp/b; for k in 1 2 3 4 5 6 7 8 9 10 11 12; do cat /tmp/b /tmp/b > /tmp/c; mv /tmp/c /tmp/b; done;
                          i=0; while [ $i -lt 100 ]; do cat /tmp/b; i=$((i+1)); done
                  - name: pass
                    source: dray-test/sh
                    environment: [{ variable: SCRIPT, value: cat }]
                """#)
            let result = try await DrayProcess.run(["run", "-q", job])
            #expect(result.status == 0, "\(result.stderr)")
            let block = (0..<256).map { UInt8($0) }
            let handle = try #require(FileHandle(forReadingAtPath: result.stdoutPath))
            var total = 0
            var mismatch: Int?
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                for (offset, byte) in chunk.enumerated() where mismatch == nil && byte != block[(total + offset) % 256]
                {
                    mismatch = total + offset
                }
                total += chunk.count
            }
            #expect(total == 100 << 20)
            #expect(mismatch == nil)
            // The data lives on disk, not in memory: far below the 100 MB that passed through.
            #expect(result.peakRSSKiB < 80 * 1024, "peak RSS \(result.peakRSSKiB) KiB")
        }
    }
}
