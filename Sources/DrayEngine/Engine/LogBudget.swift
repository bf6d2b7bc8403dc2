/// Keeps a job's log within a number of bytes (`--max-log-bytes`): the first half as the lines
/// come, the last half held back until the job ends, and between them one line that says how
/// many lines and bytes were dropped. Off (no limit) keeps everything, as the original did.
public struct LogBudget: Sendable {
    public let limit: Int?
    private var headBytes = 0
    private var tail: [LogLine] = []
    private var tailStart = 0
    private var tailBytes = 0
    private var droppedLines = 0
    private var droppedBytes = 0
    private var firstDropped: LogLine?

    public init(limit: Int?) {
        self.limit = limit
    }

    /// The lines to keep now; the rest wait for ``finish()`` or are dropped.
    public mutating func admit(_ lines: [LogLine]) -> [LogLine] {
        guard let limit else { return lines }
        var kept: [LogLine] = []
        for line in lines {
            if tailBytes == 0, headBytes + line.bytes.count <= limit / 2 {
                headBytes += line.bytes.count
                kept.append(line)
                continue
            }
            tail.append(line)
            tailBytes += line.bytes.count
            while tailBytes > limit - limit / 2, tailStart < tail.count {
                let dropped = tail[tailStart]
                if firstDropped == nil { firstDropped = dropped }
                tailStart += 1
                tailBytes -= dropped.bytes.count
                droppedLines += 1
                droppedBytes += dropped.bytes.count
            }
            if tailStart > 4096, tailStart * 2 > tail.count {
                tail.removeFirst(tailStart)
                tailStart = 0
            }
        }
        return kept
    }

    /// What was held back: the line that says what was dropped, if anything was, then the tail.
    public mutating func finish() -> [LogLine] {
        defer {
            tail = []
            tailStart = 0
            tailBytes = 0
            firstDropped = nil
            droppedLines = 0
            droppedBytes = 0
        }
        let held = Array(tail[tailStart...])
        guard let first = firstDropped, let limit else { return held }
        let note = LogLine(
            step: first.step, stream: first.stream,
            text:
                "… [\(droppedLines) lines (\(droppedBytes) bytes) dropped here: the log is over --max-log-bytes \(limit)]"
        )
        return [note] + held
    }
}
