import ArgumentParser

/// A duration on the command line: `90` (seconds), `500ms`, `30s`, `10m`, `24h`, `7d`, or a
/// sum such as `1h30m`. `off` is no duration, where a flag allows it.
struct DurationOption: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var duration: Duration?
    var description: String

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        description = text
        if text == "off" {
            duration = nil
            return
        }
        if let seconds = Double(text), seconds >= 0, seconds.isFinite {
            duration = .seconds(seconds)
            return
        }
        var total = Duration.zero
        var number = ""
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while let first = rest.first {
            if first.isNumber || first == "." {
                number.append(first)
                rest = rest.dropFirst()
                continue
            }
            guard let value = Double(number), value.isFinite else { return nil }
            let unit: Duration
            if rest.hasPrefix("ms") {
                unit = .milliseconds(1)
                rest = rest.dropFirst(2)
            } else {
                switch first {
                case "s": unit = .seconds(1)
                case "m": unit = .seconds(60)
                case "h": unit = .seconds(3600)
                case "d": unit = .seconds(86400)
                default: return nil
                }
                rest = rest.dropFirst()
            }
            total += unit * value
            number = ""
        }
        guard number.isEmpty else { return nil }
        duration = total
    }

    /// A default: `duration` written as the flag takes it (`30s`, `10m`, `24h`), or `off`.
    init(_ duration: Duration?) {
        self.duration = duration
        guard let duration else {
            description = "off"
            return
        }
        let seconds = duration.timeInterval
        if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 {
            description = "\(Int(seconds / 3600))h"
        } else if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 {
            description = "\(Int(seconds / 60))m"
        } else if seconds.rounded() == seconds {
            description = "\(Int(seconds))s"
        } else {
            description = "\(Int((seconds * 1000).rounded()))ms"
        }
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// A size on the command line: a number of bytes, with `K`, `M` or `G` for KiB, MiB or GiB
/// (`512K`, `10M`), or `off`.
struct ByteCountOption: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var bytes: Int?
    var description: String

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).uppercased()
        description = text.lowercased() == "off" ? "off" : text
        if text == "OFF" {
            bytes = nil
            return
        }
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        let unit = text.last.flatMap { units[$0] }
        guard let number = Int(unit == nil ? text : String(text.dropLast())), number > 0,
            number <= Int.max / (unit ?? 1)
        else { return nil }
        bytes = number * (unit ?? 1)
    }

    static var defaultCompletionKind: CompletionKind { .list(["off"]) }
}
