import Foundation

/// One row of a recording's `INDEX.tsv`: the file stem, the answer's status, the request's
/// method, path with query, content type and (in the later recordings) impersonated user.
struct RecordedLine {
    var stem: String
    var status: Int
    var method: String
    var path: String
    var contentType: String?
    var impersonate: String?

    /// The rows of `directory/INDEX.tsv`, in order.
    static func index(_ directory: URL) throws -> [RecordedLine] {
        let text = try String(contentsOf: directory.appendingPathComponent("INDEX.tsv"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { row in
            let fields = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 5, let status = Int(fields[1]) else { return nil }
            let impersonated = fields.count > 5 && fields[5] != "-" ? String(fields[5].dropFirst("Impersonate-User: ".count)) : nil
            return RecordedLine(stem: fields[0], status: status, method: fields[2], path: fields[3],
                                contentType: fields[4] == "-" ? nil : fields[4], impersonate: impersonated)
        }
    }
}
