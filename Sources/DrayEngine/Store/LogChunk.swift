/// Log lines packed into one value, as the SQLite store keeps many lines per row: for each
/// line its step (a varint), its stream (`1` stdout, `2` stderr), its length (a varint) and
/// its bytes, as the step wrote them.
public enum LogChunk {
    /// The most lines, and about the most bytes, one chunk holds: a page read decodes at most
    /// one chunk it does not return.
    public static let lineLimit = 1000
    public static let byteLimit = 256 * 1024

    /// `lines` in chunks within the limits, each with the index (in `lines`) of its first line.
    public static func split(_ lines: [LogLine]) -> [(first: Int, count: Int)] {
        var chunks: [(first: Int, count: Int)] = []
        var first = 0
        var bytes = 0
        for (index, line) in lines.enumerated() {
            if index > first, index - first >= lineLimit || bytes + line.bytes.count > byteLimit {
                chunks.append((first, index - first))
                first = index
                bytes = 0
            }
            bytes += line.bytes.count
        }
        if first < lines.count { chunks.append((first, lines.count - first)) }
        return chunks
    }

    public static func encode(_ lines: ArraySlice<LogLine>) -> [UInt8] {
        var data: [UInt8] = []
        data.reserveCapacity(lines.reduce(0) { $0 + $1.bytes.count + 4 })
        for line in lines {
            appendVarint(line.step, to: &data)
            data.append(line.stream == .stderr ? 2 : 1)
            appendVarint(line.bytes.count, to: &data)
            data.append(contentsOf: line.bytes)
        }
        return data
    }

    /// The lines of a chunk, from its `skip`th, at most `limit`. Throws on data that is not a chunk.
    public static func decode(_ data: [UInt8], skip: Int = 0, limit: Int = .max) throws -> [LogLine] {
        var lines: [LogLine] = []
        var offset = 0
        var index = 0
        while offset < data.count, lines.count < limit {
            let step = try readVarint(data, &offset)
            guard offset < data.count else { throw DrayError(.storage, "a log chunk ends in a line's header") }
            let stream: StandardStream = data[offset] == 2 ? .stderr : .stdout
            offset += 1
            let length = try readVarint(data, &offset)
            guard length <= data.count - offset else { throw DrayError(.storage, "a log chunk ends in a line") }
            if index >= skip {
                lines.append(LogLine(step: step, stream: stream, bytes: Array(data[offset..<offset + length])))
            }
            offset += length
            index += 1
        }
        return lines
    }

    private static func appendVarint(_ value: Int, to data: inout [UInt8]) {
        var value = UInt64(max(0, value))
        while value >= 0x80 {
            data.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        data.append(UInt8(value))
    }

    private static func readVarint(_ data: [UInt8], _ offset: inout Int) throws -> Int {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < data.count, shift < 63 {
            let byte = data[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return Int(value) }
            shift += 7
        }
        throw DrayError(.storage, "a log chunk has a bad number")
    }
}
