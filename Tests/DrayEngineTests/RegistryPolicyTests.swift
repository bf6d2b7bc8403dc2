import DrayEngine
import Foundation
import Testing

@Suite("Which registries a server pulls from")
struct RegistryPolicyTests {
    @Test(
        "the registry an image comes from",
        arguments: [
            ("alpine", "docker.io"), ("library/alpine:3", "docker.io"), ("team/tool", "docker.io"),
            ("Registry.Example.com/team/tool:1", "registry.example.com"), ("localhost/x", "localhost"),
            ("127.0.0.1:5000/x@sha256:0123456789abcdef0123456789abcdef", "127.0.0.1:5000"),
            ("index.docker.io/library/alpine", "docker.io"),
        ])
    func registry(_ source: String, _ registry: String) throws {
        #expect(try ImageReference(parsing: source).registry == registry)
    }

    private func job(_ sources: String...) -> Job {
        Job(steps: sources.map { Step(source: $0) })
    }

    @Test("without --allow-registry, loopback, link-local and private addresses are refused")
    func internalAddresses() {
        let policy = RegistryPolicy()
        for source in [
            "127.0.0.1:3000/x", "localhost:5000/x", "10.1.2.3/x", "172.20.0.1:5000/x", "192.168.1.1/x",
            "169.254.169.254/latest", "0.0.0.0:80/x", "100.64.0.1/x", "db.localhost/x",
        ] {
            #expect(policy.problems(in: job(source)).count == 1, "\(source)")
        }
        #expect(
            policy.problems(in: job("dray/upper", "127.0.0.1:3000/x")) == [
                "steps[1].source names the registry 127.0.0.1:3000, a loopback, link-local or private address, which this server pulls from only when --allow-registry names it"
            ])
        for source in ["alpine", "registry.example.com/x", "172.32.0.1/x", "8.8.8.8/x", "localhostx.com/x"] {
            #expect(policy.problems(in: job(source)).isEmpty, "\(source)")
        }
    }

    @Test("with --allow-registry, only the registries it names")
    func allowList() {
        let policy = RegistryPolicy(allowed: ["127.0.0.1:5000", "Registry.Example.com"])
        #expect(policy.problems(in: job("127.0.0.1:5000/x", "registry.example.com/team/y")).isEmpty)
        #expect(
            policy.problems(in: job("alpine")) == [
                "steps[0].source names the registry docker.io, which this server does not pull from; it allows 127.0.0.1:5000, registry.example.com"
            ])
    }
}
