import NIOCore

/// Splits the multiplexed output of an attached container (`Tty: false`) into frames:
/// an 8-byte header `[stream, 0, 0, 0, size (UInt32, big-endian)]`, then `size` bytes.
///
/// Frames may be split across reads, and one read may hold several; feed every read in order.
public struct FrameDecoder: Sendable {
    /// One frame: the stream it came on (1 stdout, 2 stderr) and its bytes.
    public struct Frame: Sendable, Equatable {
        /// 1 is stdout; 2 is stderr; 3 is the engine's own errors.
        public var stream: UInt8
        public var payload: ByteBuffer

        /// Whether it came on stderr (or as the engine's own error), not stdout.
        public var isError: Bool { stream == 2 || stream == 3 }
    }

    private var pending = ByteBuffer()

    public init() {}

    /// The frames that `bytes` completes.
    public mutating func feed(_ bytes: ByteBuffer) -> [Frame] {
        if pending.readableBytes == 0 {
            pending = bytes
        } else {
            var bytes = bytes
            pending.writeBuffer(&bytes)
        }
        var frames: [Frame] = []
        while let header = pending.getBytes(at: pending.readerIndex, length: 8) {
            let size = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
            guard pending.readableBytes >= 8 + size else { break }
            pending.moveReaderIndex(forwardBy: 8)
            let payload = pending.readSlice(length: size)!
            if size > 0 { frames.append(Frame(stream: header[0], payload: payload)) }
        }
        if pending.readableBytes == 0 {
            pending = ByteBuffer()
        } else if pending.readerIndex > 1 << 16 {
            pending.discardReadBytes()
        }
        return frames
    }

    /// Bytes of an unfinished frame left when the stream ended; 0 when it ended cleanly.
    public var leftoverBytes: Int { pending.readableBytes }
}
