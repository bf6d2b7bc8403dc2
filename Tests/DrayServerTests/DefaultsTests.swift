import DrayAPI
import DrayEngine
import DrayServer
import Foundation
import Testing

/// The defaults live in the code once (the service's and the server's configurations, the step
/// limits, the API's port); `dray serve`'s flags take theirs from there, and the README's table
/// of flags must say the same.
@Suite("The README's defaults are the code's")
struct DefaultsTests {
    static let readme: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }()

    /// The last cell of the table row whose first cell starts with `flag`.
    func documented(_ flag: String) -> String? {
        Self.readme.split(separator: "\n").first { $0.hasPrefix("| `\(flag)") }.flatMap {
            $0.split(separator: "|").last?.trimmingCharacters(in: .whitespaces)
        }
    }

    /// A duration as the README writes it: `10s`, `30s`, `24h`.
    func written(_ duration: Duration?) -> String {
        guard let seconds = duration.map({ Int($0.components.seconds) }) else { return "`off`" }
        if seconds % 3600 == 0 { return "`\(seconds / 3600)h`" }
        return "`\(seconds)s`"
    }

    @Test("every serve default in the flag table, and the clients' URL")
    func flagTable() {
        let jobs = JobService.Configuration()
        let server = DrayServer.Configuration()
        #expect(documented("serve --port") == "`\(server.port)`")
        #expect(server.port == APIDefaults.port)
        #expect(documented("serve --max-body-bytes") == "`\(server.maxBodyBytes)`")
        #expect(documented("serve --max-concurrent-jobs") == "`\(jobs.maxConcurrentJobs)`")
        #expect(documented("serve --keep-outputs") == written(jobs.keepOutputs))
        #expect(documented("serve --job-ttl") == written(jobs.jobTTL))
        #expect(documented("serve --lease") == written(jobs.lease))
        #expect(documented("serve --shutdown-grace") == written(jobs.shutdownGrace))
        #expect(documented("serve --header-timeout") == written(server.headerTimeout))
        #expect(documented("serve --body-timeout") == written(server.bodyTimeout))
        #expect(documented("serve --max-stop-grace") == written(.seconds(StepLimits.defaultMaxStopGrace)))
        #expect(documented("--url")?.hasPrefix("`\(APIDefaults.url)`") == true)
    }
}
