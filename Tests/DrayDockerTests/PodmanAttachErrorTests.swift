import NIOCore
import Testing

@testable import DockerClient
@testable import DrayDocker

@Suite("Podman's attach errors")
struct PodmanAttachErrorTests {
    @Test("Podman's own error after its copy of stdin failed is told from a step's stderr")
    func podmanAttachError() {
        func frame(_ stream: UInt8, _ text: String) -> FrameDecoder.Frame {
            FrameDecoder.Frame(stream: stream, payload: ByteBuffer(string: text))
        }
        let prefix = "Error: write unixpacket @->/proc/self/fd/15/attach: write: "
        #expect(DockerRuntime.isPodmanAttachError(frame(2, prefix + "connection reset by peer\n")))
        #expect(DockerRuntime.isPodmanAttachError(frame(2, prefix + "broken pipe\n")))
        #expect(!DockerRuntime.isPodmanAttachError(frame(2, "Error: broken pipe\n")), "a step's own error")
        #expect(!DockerRuntime.isPodmanAttachError(frame(1, prefix + "broken pipe\n")), "stdout is the step's")
    }
}
