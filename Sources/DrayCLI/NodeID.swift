import ArgumentParser
import Foundation

/// The server's node id, which its containers carry (`dray.node`), its logs (`node`) and its
/// gauges (`node`): `--node-id`, `DRAY_NODE_ID`, or one made once and kept in `DATA_DIR/node-id`,
/// so that a restart is the same node.
enum NodeID {
    /// 1 to 63 letters, digits, dots, dashes and underscores: a label value and a file's line.
    static func isValid(_ id: String) -> Bool {
        (1...63).contains(id.utf8.count)
            && id.utf8.allSatisfy {
                $0.isASCIIAlphanumeric || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
            }
    }

    /// The id kept in the file at `path`, without surrounding white space; nil when none.
    static func kept(at path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func resolve(given: String?, dataDir: String) throws -> String {
        if let given {
            guard isValid(given) else {
                throw ValidationError(
                    "the node id \"\(given)\" must be 1 to 63 letters, digits, dots, dashes or underscores")
            }
            return given
        }
        let path = dataDir + "/node-id"
        if let id = kept(at: path) {
            guard isValid(id) else { throw ValidationError("\(path) does not hold a node id: delete it to make one") }
            return id
        }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node"
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        var id = String(host.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }.prefix(50))
        id = (id.isEmpty ? "node" : id) + "-" + suffix
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
            try Data((id + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .withoutOverwriting)
        } catch {
            // Another process made it first: use that one.
            if let id = kept(at: path), isValid(id) { return id }
            throw ValidationError("cannot keep the node id in \(path): \(error)")
        }
        return id
    }
}

extension UInt8 {
    fileprivate var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
