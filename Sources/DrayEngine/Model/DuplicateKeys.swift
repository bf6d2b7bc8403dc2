import Foundation

/// Finds a key that an object of a JSON text holds twice. JSON decoders keep the last one
/// quietly, so `{"source":"a","source":"b"}` would run `b` where a reader of the file sees `a`.
enum DuplicateKeys {
    /// The path of the first key held twice (`steps[0].source`), or nil when there is none or
    /// the text is not JSON (the decoder then says what is wrong).
    static func first(in data: Data) -> String? {
        var scanner = Scanner(bytes: Array(data))
        return try? scanner.value(path: [])
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        var depth = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        struct Stop: Error {}

        mutating func skipSpace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        /// Scans one value; returns the path of a duplicate key inside it, if any.
        mutating func value(path: [String]) throws -> String? {
            skipSpace()
            guard position < bytes.count else { throw Stop() }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object(path: path)
            case UInt8(ascii: "["): return try array(path: path)
            case UInt8(ascii: "\""):
                _ = try string()
                return nil
            default:
                while position < bytes.count, !",]} \t\r\n".utf8.contains(bytes[position]) { position += 1 }
                return nil
            }
        }

        mutating func object(path: [String]) throws -> String? {
            depth += 1
            guard depth < 512 else { throw Stop() }
            defer { depth -= 1 }
            position += 1
            var seen: Set<String> = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return nil
            }
            while true {
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw Stop() }
                let key = try string()
                let keyPath = path.isEmpty ? [key] : path + [".\(key)"]
                if !seen.insert(key).inserted { return keyPath.joined() }
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw Stop() }
                position += 1
                if let found = try value(path: keyPath) { return found }
                if try atEnd(closing: UInt8(ascii: "}")) { return nil }
            }
        }

        mutating func array(path: [String]) throws -> String? {
            depth += 1
            guard depth < 512 else { throw Stop() }
            defer { depth -= 1 }
            position += 1
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return nil
            }
            var index = 0
            while true {
                if let found = try value(path: path + ["[\(index)]"]) { return found }
                index += 1
                if try atEnd(closing: UInt8(ascii: "]")) { return nil }
            }
        }

        /// After a member: true at `closing` (passed over), false after a comma.
        mutating func atEnd(closing: UInt8) throws -> Bool {
            skipSpace()
            guard position < bytes.count else { throw Stop() }
            position += 1
            if bytes[position - 1] == UInt8(ascii: ",") { return false }
            if bytes[position - 1] == closing { return true }
            throw Stop()
        }

        /// A string token, decoded (escapes resolved) so that `"a"` and `"\u0061"` are one key.
        mutating func string() throws -> String {
            let start = position
            position += 1
            var escaped = false
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    position += 2
                    continue
                }
                position += 1
                if byte == UInt8(ascii: "\"") {
                    let token = bytes[start..<position]
                    if !escaped { return String(decoding: token.dropFirst().dropLast(), as: UTF8.self) }
                    guard let text = try? JSONDecoder().decode(String.self, from: Data(token)) else { throw Stop() }
                    return text
                }
            }
            throw Stop()
        }
    }
}
