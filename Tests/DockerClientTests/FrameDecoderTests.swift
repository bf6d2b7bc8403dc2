import NIOCore
import Testing

@testable import DockerClient

@Suite("Demultiplexing attach output")
struct FrameDecoderTests {
    private func frame(_ stream: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let size = UInt32(payload.count)
        return [
            stream, 0, 0, 0, UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF),
        ] + payload
    }

    private func decode(_ reads: [[UInt8]]) -> [(UInt8, [UInt8])] {
        var decoder = FrameDecoder()
        return reads.flatMap { decoder.feed(ByteBuffer(bytes: $0)) }.map {
            ($0.stream, Array($0.payload.readableBytesView))
        }
    }

    @Test("several frames in one read")
    func several() {
        let frames = decode([frame(1, Array("out".utf8)) + frame(2, Array("err".utf8)) + frame(1, [0, 255])])
        #expect(frames.map(\.0) == [1, 2, 1])
        #expect(frames.map(\.1) == [Array("out".utf8), Array("err".utf8), [0, 255]])
    }

    @Test("a frame split across reads, even inside its header")
    func split() {
        let bytes = frame(1, Array("hello world".utf8)) + frame(2, Array("x".utf8))
        for cut in 1..<bytes.count {
            let frames = decode([Array(bytes[..<cut]), Array(bytes[cut...])])
            #expect(frames.map(\.1) == [Array("hello world".utf8), Array("x".utf8)], "cut at \(cut)")
        }
        let byteByByte = decode(bytes.map { [$0] })
        #expect(byteByByte.map(\.0) == [1, 2])
    }

    @Test("empty frames carry nothing and are skipped")
    func empty() {
        let frames = decode([frame(1, []) + frame(2, Array("e".utf8)) + frame(1, [])])
        #expect(frames.map(\.0) == [2])
    }

    @Test("a large frame arrives whole, and an unfinished one is reported")
    func large() {
        let payload = [UInt8](repeating: 7, count: 1 << 20)
        let bytes = frame(1, payload)
        var decoder = FrameDecoder()
        var frames: [FrameDecoder.Frame] = []
        for start in stride(from: 0, to: bytes.count, by: 65536) {
            frames += decoder.feed(ByteBuffer(bytes: bytes[start..<min(start + 65536, bytes.count)]))
        }
        #expect(frames.count == 1)
        #expect(frames[0].payload.readableBytes == payload.count)
        #expect(decoder.leftoverBytes == 0)
        _ = decoder.feed(ByteBuffer(bytes: [1, 0, 0, 0, 0, 0, 0, 9, 1]))
        #expect(decoder.leftoverBytes == 9)
    }
}
