import Testing

@testable import DockerClient

@Suite("Engine calls are counted by kind, not by id")
struct CallPatternTests {
    @Test(
        "ids and image names are taken out of routes",
        arguments: [
            ("/containers/create", "/containers/create"),
            ("/containers/json", "/containers/json"),
            ("/containers/3f2a9c/start", "/containers/{id}/start"),
            ("/containers/3f2a9c/wait", "/containers/{id}/wait"),
            ("/containers/3f2a9c", "/containers/{id}"),
            ("/images/create", "/images/create"),
            ("/images/registry.local:5000/team/app:1.2/json", "/images/{name}/json"),
            ("/images/busybox", "/images/{name}"),
            ("/_ping", "/_ping"),
            ("/version", "/version"),
            ("/distribution/busybox/json", "/distribution/…"),
        ])
    func pattern(route: String, expected: String) {
        #expect(DockerClient.pattern(route) == expected)
    }
}
