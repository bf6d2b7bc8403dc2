import DrayEngine
import Testing

@Suite("Image references")
struct ImageReferenceTests {
    @Test(
        "parse as docker run takes them",
        arguments: [
            ("busybox", "busybox", "latest", nil),
            ("dray/upper", "dray/upper", "latest", nil),
            ("dray/upper:1.2", "dray/upper", "1.2", nil),
            ("registry:5000/x", "registry:5000/x", "latest", nil),
            ("registry:5000/team/x:v2", "registry:5000/team/x", "v2", nil),
            ("localhost/x", "localhost/x", "latest", nil),
            ("127.0.0.1:5000/dray-test/refresh", "127.0.0.1:5000/dray-test/refresh", "latest", nil),
            (
                "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "x", nil,
                "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            (
                "r:5000/x:t@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "r:5000/x", "t",
                "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
        ] as [(String, String, String?, String?)])
    func parse(text: String, repository: String, tag: String?, digest: String?) throws {
        let reference = try ImageReference(parsing: text)
        #expect(reference.repository == repository)
        #expect(reference.tag == tag)
        #expect(reference.digest == digest)
    }

    @Test("a reference without a tag means :latest")
    func latest() throws {
        #expect(try ImageReference(parsing: "dray/x").description == "dray/x:latest")
        #expect(try ImageReference(parsing: "registry:5000/x").description == "registry:5000/x:latest")
        #expect(try ImageReference(parsing: "registry:5000/x").pullTag == "latest")
        let pinned = try ImageReference(
            parsing: "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
        #expect(pinned.pullTag == pinned.digest)
    }

    @Test(
        "refuse what the engine would refuse",
        arguments: ["", "a b", "Upper", "x:", "x:-bad", "x@sha256:short", "/x", "x//y", "x/", "host:99999/x", "-x"])
    func invalid(text: String) {
        #expect(throws: DrayError.self) { try ImageReference(parsing: text) }
    }
}
