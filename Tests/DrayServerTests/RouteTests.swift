import Testing

@testable import DrayServer

@Suite("Routing helpers")
struct RouteTests {
    @Test(
        "a /v{version} prefix is stripped, anything else is left alone",
        arguments: [
            ("/v1.2/jobs", "/jobs"), ("/v1/jobs/ABC/log?index=3", "/jobs/ABC/log?index=3"), ("/v2", "/"),
            ("/v1.0.3?x=1", "/?x=1"),
        ])
    func strip(path: String, stripped: String) {
        #expect(VersionPrefix.strip(path) == stripped)
    }

    @Test(
        "paths that are not versioned",
        arguments: ["/jobs", "/vx/jobs", "/v/jobs", "/v.1/jobs", "/v1x/jobs", "/version"])
    func notVersioned(path: String) {
        #expect(VersionPrefix.strip(path) == nil)
    }

    @Test("the methods of each route, for 405 answers")
    func methods() {
        #expect(Routes.methods(forPath: "/jobs") == ["GET", "HEAD", "POST"])
        #expect(Routes.methods(forPath: "/jobs/X") == ["GET", "HEAD", "DELETE"])
        #expect(Routes.methods(forPath: "/jobs/X/log") == ["GET", "HEAD"])
        #expect(Routes.methods(forPath: "/jobs/X/cancel") == ["POST"])
        #expect(Routes.methods(forPath: "/nope") == nil)
        #expect(Routes.methods(forPath: "/jobs/X/other") == nil)
    }
}
