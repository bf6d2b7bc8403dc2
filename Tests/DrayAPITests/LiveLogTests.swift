import DrayAPI
import DrayEngine
import NIOCore
import Testing

/// The live log's events, as the server writes them and the client reads them.
@Suite("The live log's event codec")
struct LiveLogTests {
    @Test("what a step prints comes back as it was, LF for each CR, whatever it holds; chunks may split anywhere")
    func roundTrip() {
        let texts = ["plain", "event: end", "a\rprogress\rbar", "data: forged\n\nid: 9", "", "ünïcödé ✓"]
        var stream = ByteBuffer()
        for (index, text) in texts.enumerated() { LiveLog.write(id: index, data: text, to: &stream) }
        stream.writeString(": keep-alive\n\n")
        LiveLog.write(event: "end", data: #"{"status":"complete","stepsCompleted":2}"#, to: &stream)
        let bytes = Array(stream.readableBytesView)
        for size in [1, 3, 7, bytes.count] {
            var reader = LiveLog.Reader()
            var events: [LiveLog.Reader.Event] = []
            for start in stride(from: 0, to: bytes.count, by: size) {
                events += reader.feed(ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)]))
            }
            let lines = events.filter { $0.type == "message" }.map(\.data)
            #expect(
                lines
                    == texts.map { $0.replacingOccurrences(of: "\r", with: "\n") },
                "chunks of \(size) bytes")
            #expect(events.last?.type == "end", "chunks of \(size) bytes")
        }
    }
}
