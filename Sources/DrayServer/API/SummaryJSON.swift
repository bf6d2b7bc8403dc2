import DrayEngine
import Foundation
import NIOCore

/// Job summaries as JSON, written by hand: `GET /jobs` streams every job, and Foundation's
/// encoder (with its date strategy) took half of a million-job listing's time. The same fields
/// as ``JobSummary``'s `Codable` (a field that is nil is left out), in its order, and dates as
/// ``JSONResponse/encoder`` writes them (ISO 8601 in UTC, with milliseconds).
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
        date(job.createdAt, to: &buffer)
        if let started = job.startedAt {
            buffer.writeStaticString(#"","startedAt":""#)
            date(started, to: &buffer)
        }
        if let finished = job.finishedAt {
            buffer.writeStaticString(#"","finishedAt":""#)
            date(finished, to: &buffer)
        }
        buffer.writeStaticString(#""}"#)
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

    /// `2026-11-27T21:04:35.572Z`: in UTC, the day from the days since 1970 by the
    /// civil-from-days algorithm; the milliseconds cut (not rounded) from the fraction of the
    /// seconds since 2001, as Foundation's ISO 8601 style cuts them.
    static func date(_ date: Date, to buffer: inout ByteBuffer) {
        let sinceReference = date.timeIntervalSinceReferenceDate
        let seconds = sinceReference.rounded(.down)
        let fraction = Int64(((sinceReference - seconds) * 1000).rounded(.down))
        let millis = (Int64(seconds) + 978_307_200) * 1000 + min(fraction, 999)
        let (days, inDay) = millis.quotientAndRemainder(dividingBy: 86_400_000)
        var day = days
        var time = inDay
        if time < 0 {
            day -= 1
            time += 86_400_000
        }
        let z = day + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let dayOfMonth = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var digits: [UInt8] = []
        digits.reserveCapacity(24)
        func put(_ value: Int64, _ width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                digits.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        put(year, 4)
        digits.append(UInt8(ascii: "-"))
        put(month, 2)
        digits.append(UInt8(ascii: "-"))
        put(dayOfMonth, 2)
        digits.append(UInt8(ascii: "T"))
        put(time / 3_600_000, 2)
        digits.append(UInt8(ascii: ":"))
        put(time / 60000 % 60, 2)
        digits.append(UInt8(ascii: ":"))
        put(time / 1000 % 60, 2)
        digits.append(UInt8(ascii: "."))
        put(time % 1000, 3)
        digits.append(UInt8(ascii: "Z"))
        buffer.writeBytes(digits)
    }
}
