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

@Suite("Addresses read as the C library reads them")
struct HostAddressTests {
    @Test(
        "every IPv4 spelling inet_aton takes",
        arguments: [
            ("127.0.0.1", 0x7F00_0001), ("127.1", 0x7F00_0001), ("2130706433", 0x7F00_0001),
            ("0x7f000001", 0x7F00_0001), ("0177.0.0.1", 0x7F00_0001), ("10.1", 0x0A00_0001),
            ("169.254.43518", 0xA9FE_A9FE), ("0x7f.1", 0x7F00_0001), ("1.2.3.4", 0x0102_0304),
        ] as [(String, UInt32)])
    func ipv4(_ text: String, _ address: UInt32) {
        #expect(HostAddress.parseIPv4(text) == address, "\(text)")
    }

    @Test("names and bad numbers are not IPv4 addresses")
    func notIPv4() {
        for text in [
            "127.a.attacker.example", "127.0.0.1.", "1.2.3.4.5", "256.0.0.1", "1.2.65536", "08.0.0.1", "", "1..2",
        ] {
            #expect(HostAddress.parseIPv4(text) == nil, "\(text)")
        }
    }

    @Test("a DNS name that begins with 127 is not loopback; every spelling of 127/8 and ::1 is")
    func loopback() {
        for host in [
            "127.a.attacker.example", "127.0.0.1.nip.io", "127.example.com", "localhost.example", "0.0.0.0", "::",
        ] {
            #expect(!HostAddress(host).isLoopback, "\(host)")
        }
        for host in [
            "127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "[::1]", "::ffff:127.0.0.1", "LocalHost",
        ] {
            #expect(HostAddress(host).isLoopback, "\(host)")
        }
    }

    @Test("a registry named by an internal address in another spelling is refused")
    func registrySpellings() {
        let policy = RegistryPolicy()
        for registry in ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "10.1", "169.254.43518"] {
            #expect(policy.problems(in: Job(steps: [Step(source: "\(registry):5000/x")])).count == 1, "\(registry)")
        }
        #expect(policy.problems(in: Job(steps: [Step(source: "8.8.8.8:5000/x")])).isEmpty)
    }
}
