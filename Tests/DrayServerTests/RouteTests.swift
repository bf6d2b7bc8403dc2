import Hummingbird
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

    @Test("loopback names and addresses, and the rest")
    func loopback() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]"] {
            #expect(DrayServer.isLoopback(host), "\(host)")
        }
        for host in [
            "0.0.0.0", "::", "10.0.0.1", "127.example.com", "localhost.example", "dray.example",
            "127.a.attacker.example", "127.1.2.evil",
        ] {
            #expect(!DrayServer.isLoopback(host), "\(host)")
        }
    }

    @Test("an Origin is the server's own when its host and port are Host's")
    func sameOrigin() {
        typealias Guard = BrowserGuardMiddleware<BasicRequestContext>
        #expect(Guard.origin("http://127.0.0.1:3000", isSameAs: "127.0.0.1:3000"))
        #expect(Guard.origin("http://LOCALHOST", isSameAs: "localhost:80"))
        #expect(Guard.origin("https://[::1]:8443", isSameAs: "[::1]:8443"))
        #expect(!Guard.origin("http://127.0.0.1:3001", isSameAs: "127.0.0.1:3000"))
        #expect(!Guard.origin("http://evil.example:3000", isSameAs: "127.0.0.1:3000"))
        #expect(!Guard.origin("null", isSameAs: "127.0.0.1:3000"))
        #expect(!Guard.origin("file://", isSameAs: "127.0.0.1:3000"))
        #expect(Guard.parse("[::1]:3000").host == "::1")
    }

    @Test(
        "a byte range: first-last, first-, and a suffix, within the size; several ranges give the whole; others a 416")
    func byteRanges() throws {
        #expect(try OutputResponse.byteRange("bytes=0-9", size: 100) == 0...9)
        #expect(try OutputResponse.byteRange("bytes=90-200", size: 100) == 90...99)
        #expect(try OutputResponse.byteRange("bytes=95-", size: 100) == 95...99)
        #expect(try OutputResponse.byteRange("bytes=-10", size: 100) == 90...99)
        #expect(try OutputResponse.byteRange("bytes=-500", size: 100) == 0...99)
        #expect(try OutputResponse.byteRange("bytes=0-1,5-6", size: 100) == nil)
        for bad in ["bytes=100-", "bytes=5-1", "bytes=x-y", "items=0-1", "bytes=-0", "bytes=-"] {
            #expect(throws: APIError.self, "\(bad)") { try OutputResponse.byteRange(bad, size: 100) }
        }
    }
}
