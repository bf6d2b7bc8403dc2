import Foundation

/// The fields of a job description that no decoder reads, found while decoding.
///
/// Clients written for the original Dray may send fields it ignored, so an unknown field is a
/// warning, never an error, unless the caller asks for strictness. Each type's decoder reports
/// the keys it was given beyond its own `CodingKeys` through the decoder's `userInfo`.
public final class UnknownFields: @unchecked Sendable {
    static let userInfoKey = CodingUserInfoKey(rawValue: "dray.unknownFields")!

    private let lock = NSLock()
    private var found: [String] = []

    /// The warnings, in the order the decoder met the fields.
    var warnings: [String] { lock.withLock { found } }

    /// Records the keys of the object `decoder` is reading that are not in `known` nor in
    /// `ignored` (fields a client may echo back from an answer).
    public static func check(
        _ decoder: any Decoder, known: [String], ignored: Set<String> = [], object: String
    ) throws {
        guard let collector = decoder.userInfo[userInfoKey] as? UnknownFields else { return }
        let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        let knownSet = Set(known)
        for key in keys.sorted() where !knownSet.contains(key) && !ignored.contains(key) {
            let path = JobDocument.fieldPath(decoder.codingPath + [AnyKey(stringValue: key)])
            var message = "\(path) is not a field of \(object)"
            if let suggestion = closest(to: key, in: known) { message += "; did you mean \"\(suggestion)\"?" }
            collector.lock.withLock { collector.found.append(message) }
        }
    }

    /// The known name nearest to `name`: the same but for case, or at most two edits away
    /// (an insertion, a deletion, a change, or two neighbours swapped), when one is that near.
    static func closest(to name: String, in known: [String]) -> String? {
        if let same = known.first(where: { $0.lowercased() == name.lowercased() }) { return same }
        let limit = name.count <= 3 ? 1 : 2
        let scored = known.map { ($0, editDistance(name.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= limit else { return nil }
        return best.0
    }

    /// The optimal string alignment distance: Levenshtein's, with a swap of neighbours as one edit.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var distance = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { distance[i][0] = i }
        for j in 0...b.count { distance[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                distance[i][j] = min(distance[i - 1][j] + 1, distance[i][j - 1] + 1, distance[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    distance[i][j] = min(distance[i][j], distance[i - 2][j - 2] + 1)
                }
            }
        }
        return distance[a.count][b.count]
    }
}

/// Any key of a JSON or YAML object.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
