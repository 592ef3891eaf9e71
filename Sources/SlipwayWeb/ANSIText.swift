/// A log line's ANSI colours and styles (SGR) as HTML spans, every character of text escaped;
/// other escape sequences are dropped. The dashboard's script does the same for live lines.
public enum ANSIText {
    private struct Style: Equatable {
        var bold = false, dim = false, italic = false, underline = false
        var foreground: Int?

        var classes: String {
            var names: [String] = []
            if bold { names.append("a-b") }
            if dim { names.append("a-d") }
            if italic { names.append("a-i") }
            if underline { names.append("a-u") }
            if let foreground { names.append("a-\(foreground)") }
            return names.joined(separator: " ")
        }

        mutating func apply(_ codes: [Int]) {
            for code in codes.isEmpty ? [0] : codes {
                switch code {
                case 0: self = Style()
                case 1: bold = true
                case 2: dim = true
                case 3: italic = true
                case 4: underline = true
                case 22: bold = false; dim = false
                case 23: italic = false
                case 24: underline = false
                case 30...37, 90...97: foreground = code
                case 39: foreground = nil
                default: break
                }
            }
        }
    }

    public static func html(_ text: String) -> String {
        var output = ""
        var style = Style()
        var run = ""
        func flush() {
            guard !run.isEmpty else { return }
            let classes = style.classes
            output += classes.isEmpty ? escape(run) : "<span class=\"\(classes)\">\(escape(run))</span>"
            run = ""
        }
        let scalars = Array(text.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            guard scalar == "\u{1B}" else {
                if scalar.value >= 0x20 || scalar == "\t" { run.unicodeScalars.append(scalar) }
                index += 1
                continue
            }
            // ESC [ params letter: a CSI sequence; only "m" (SGR) changes the style.
            if index + 1 < scalars.count, scalars[index + 1] == "[" {
                var end = index + 2
                while end < scalars.count, !(0x40...0x7E).contains(scalars[end].value) { end += 1 }
                if end < scalars.count, scalars[end] == "m" {
                    flush()
                    let parameters = String(String.UnicodeScalarView(scalars[(index + 2)..<end]))
                    style.apply(parameters.split(separator: ";", omittingEmptySubsequences: false).compactMap { Int($0) ?? ($0.isEmpty ? 0 : nil) })
                }
                index = min(end + 1, scalars.count)
            } else {
                index += 2
            }
        }
        flush()
        return output
    }

    /// HTML-escapes text for element content and quoted attributes.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "&": escaped += "&amp;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
