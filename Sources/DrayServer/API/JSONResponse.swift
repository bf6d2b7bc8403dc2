import Foundation
import Hummingbird

/// JSON answers: `application/json`, dates in ISO 8601 with milliseconds.
enum JSONResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var text = ByteBuffer()
            writeDate(date, to: &text)
            var container = encoder.singleValueContainer()
            try container.encode(String(buffer: text))
        }
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"the answer could not be encoded"}"#.utf8)
        return make(json: ByteBuffer(bytes: data), status: status)
    }

    /// An answer of JSON already written.
    static func make(json: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: json))
    }

    /// `2026-11-27T21:04:35.572Z`: in UTC, the day from the days since 1970 by the
    /// civil-from-days algorithm; the milliseconds cut (not rounded) from the fraction of the
    /// seconds since 2001, as Foundation's ISO 8601 style cuts them.
    static func writeDate(_ date: Date, to buffer: inout ByteBuffer) {
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
