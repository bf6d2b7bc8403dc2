/// Text from a server or from a step's output, made safe to write to a terminal.
///
/// A step's output and a job's or a step's name are anyone's words: written as they are, an
/// escape sequence in them would set the terminal's title, clear the screen, or write the
/// clipboard (OSC 52). So the client verbs show every control character but the tab as a
/// visible escape (`\x1b`, `\u{9b}`), unless `--raw` asks for the bytes as they are.
enum VisibleText {
    /// `text` with each control character (C0 but the tab, DEL, C1) written as an escape.
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var shown = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard isControl(scalar) else {
                shown.append(scalar)
                continue
            }
            let hex = String(scalar.value, radix: 16)
            let escape = scalar.value < 0x80 ? "\\x" + (hex.count == 1 ? "0" : "") + hex : "\\u{\(hex)}"
            shown.append(contentsOf: escape.unicodeScalars)
        }
        return String(shown)
    }

    /// `text` as `raw` says: as it is, or escaped.
    static func shown(_ text: String, raw: Bool) -> String {
        raw ? text : escaped(text)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t") || (0x7F...0x9F).contains(scalar.value)
    }
}
