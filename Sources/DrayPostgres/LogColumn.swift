import DrayEngine
import PostgresNIO

/// One column of a log chunk's row (`steps int[]`, `streams smallint[]` or `texts bytea[]`),
/// written straight from the lines in PostgreSQL's binary array format. PostgresNIO's array
/// encoding needed an array of values first (a byte buffer made per line) and encoded each one
/// through a generic call: a third of Dray's CPU on a job that prints 2,000,000 lines.
struct LogColumn: PostgresDynamicTypeEncodable {
    enum Kind {
        case steps, streams, texts
    }

    var kind: Kind
    var lines: ArraySlice<LogLine>

    var psqlType: PostgresDataType {
        switch kind {
        case .steps: .int4Array
        case .streams: .int2Array
        case .texts: .byteaArray
        }
    }

    var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(
        into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        let element: PostgresDataType =
            switch kind {
            case .steps: .int4
            case .streams: .int2
            case .texts: .bytea
            }
        // array_send's layout: the dimensions (none for an empty array), a flag for NULLs (none),
        // the element's type, then the one dimension's length and lower bound (1).
        buffer.writeInteger(Int32(lines.isEmpty ? 0 : 1))
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(element.rawValue)
        guard !lines.isEmpty else { return }
        buffer.writeInteger(Int32(lines.count))
        buffer.writeInteger(Int32(1))
        switch kind {
        case .steps:
            for line in lines {
                buffer.writeInteger(Int32(4))
                buffer.writeInteger(Int32(line.step))
            }
        case .streams:
            for line in lines {
                buffer.writeInteger(Int32(2))
                buffer.writeInteger(Int16(line.stream == .stdout ? 1 : 2))
            }
        case .texts:
            buffer.reserveCapacity(minimumWritableBytes: lines.reduce(0) { $0 + 4 + $1.bytes.count })
            for line in lines {
                buffer.writeInteger(Int32(line.bytes.count))
                buffer.writeBytes(line.bytes)
            }
        }
    }
}
