import DockerClient
import Testing

@Suite("DOCKER_HOST")
struct DockerEndpointTests {
    @Test(
        "the forms the docker CLI takes",
        arguments: [
            ("", DockerEndpoint.unix(path: "/var/run/docker.sock")),
            ("unix:///tmp/d.sock", .unix(path: "/tmp/d.sock")),
            ("tcp://127.0.0.1:2375", .tcp(host: "127.0.0.1", port: 2375)),
            ("tcp://engine", .tcp(host: "engine", port: 2375)),
            ("tcp://[::1]:2376", .tcp(host: "::1", port: 2376)),
        ])
    func forms(value: String, endpoint: DockerEndpoint) throws {
        #expect(try DockerEndpoint(dockerHost: value) == endpoint)
    }

    @Test(
        "anything else is refused with a message", arguments: ["http://x", "unix://relative", "tcp://h:0", "tcp://:1"])
    func refused(value: String) {
        #expect(throws: DockerClientError.self) { try DockerEndpoint(dockerHost: value) }
    }

    @Test("DOCKER_TLS_VERIFY means TLS to a TCP engine, with the certificates of DOCKER_CERT_PATH or ~/.docker")
    func tls() throws {
        #expect(
            try DockerEndpoint(environment: [
                "DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs",
            ]) == .tls(host: "h", port: 2376, certificates: "/certs"))
        #expect(
            try DockerEndpoint(environment: ["DOCKER_HOST": "tcp://h", "DOCKER_TLS_VERIFY": "1", "HOME": "/home/u"])
                == .tls(host: "h", port: 2376, certificates: "/home/u/.docker"))
        #expect(try DockerEndpoint(environment: ["DOCKER_TLS_VERIFY": ""]) == .unix(path: "/var/run/docker.sock"))
    }

    @Test(
        "TLS that would not verify, or over a unix socket, is refused rather than spoken in clear",
        arguments: [
            ["DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS": "1"],
            ["DOCKER_HOST": "unix:///var/run/docker.sock", "DOCKER_TLS_VERIFY": "1", "HOME": "/root"],
            ["DOCKER_TLS_VERIFY": "1", "HOME": "/root"],
        ])
    func tlsRefused(environment: [String: String]) {
        #expect(throws: DockerClientError.self) { try DockerEndpoint(environment: environment) }
    }
}
