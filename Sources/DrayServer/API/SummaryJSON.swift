import DrayEngine
import Foundation
import NIOCore

/// Job summaries as JSON, written by hand: `GET /jobs` streams every job, and Foundation's
/// encoder (with its date strategy) took half of a million-job listing's time. The same fields
/// as ``JobSummary``'s `Codable` (a field that is nil is left out), in its order, and dates as
/// every answer has them (``JSONResponse/writeDate(_:to:)``).
enum SummaryJSON {
    /// `jobs` as a JSON array.
    static func array(_ jobs: [JobSummary]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStaticString("[")
        write(jobs, to: &buffer)
        buffer.writeStaticString("]")
        return buffer
    }

    /// `jobs` as JSON objects separated by commas, with no brackets.
    static func write(_ jobs: [JobSummary], to buffer: inout ByteBuffer) {
        for (index, job) in jobs.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            write(job, to: &buffer)
        }
    }

    static func write(_ job: JobSummary, to buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"id":"#)
        string(job.id, to: &buffer)
        if let name = job.name {
            buffer.writeStaticString(#","name":"#)
            string(name, to: &buffer)
        }
        buffer.writeStaticString(#","status":""#)
        buffer.writeString(job.status.rawValue)
        buffer.writeStaticString(#"","phase":""#)
        buffer.writeString(job.phase.rawValue)
        buffer.writeStaticString(#"","stepsCompleted":"#)
        buffer.writeString(String(job.stepsCompleted))
        buffer.writeStaticString(#","totalSteps":"#)
        buffer.writeString(String(job.totalSteps))
        if let step = job.currentStep {
            buffer.writeStaticString(#","currentStep":"#)
            buffer.writeString(String(step))
        }
        if let reason = job.reason {
            buffer.writeStaticString(#","reason":""#)
            buffer.writeString(reason.rawValue)
            buffer.writeStaticString(#"""#)
        }
        buffer.writeStaticString(#","createdAt":""#)
        JSONResponse.writeDate(job.createdAt, to: &buffer)
        if let started = job.startedAt {
            buffer.writeStaticString(#"","startedAt":""#)
            JSONResponse.writeDate(started, to: &buffer)
        }
        if let finished = job.finishedAt {
            buffer.writeStaticString(#"","finishedAt":""#)
            JSONResponse.writeDate(finished, to: &buffer)
        }
        buffer.writeStaticString(#"","project":"#)
        string(job.project, to: &buffer)
        buffer.writeStaticString(#"}"#)
    }

    /// A JSON string: `"` and `\` escaped, and the control characters below U+0020.
    static func string(_ text: String, to buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"""#)
        var clean = true
        for byte in text.utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            clean = false
            break
        }
        if clean {
            buffer.writeString(text)
        } else {
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString(#"\""#)
                case UInt8(ascii: "\\"): buffer.writeStaticString(#"\\"#)
                case UInt8(ascii: "\n"): buffer.writeStaticString(#"\n"#)
                case UInt8(ascii: "\r"): buffer.writeStaticString(#"\r"#)
                case UInt8(ascii: "\t"): buffer.writeStaticString(#"\t"#)
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    buffer.writeBytes([
                        UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        hex[Int(byte >> 4)],
                        hex[Int(byte & 0xF)],
                    ])
                default: buffer.writeInteger(byte)
                }
            }
        }
        buffer.writeStaticString(#"""#)
    }
}
