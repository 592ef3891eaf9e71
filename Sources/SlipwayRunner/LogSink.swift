import Foundation
import SlipwayCore
import SlipwayStore

/// Collects a job's log lines and writes them to the store in chunks: often enough that a
/// follower sees a line within a second, seldom enough that a chatty step does not turn
/// into a write per line.
actor LogSink {
    private let store: any JobStore
    private let jobID: JobID
    private var buffer = ""
    private var flusher: Task<Void, Never>?
    /// Lines are written at least this often.
    static let flushInterval: Duration = .milliseconds(250)
    /// A buffer this large is written at once.
    static let flushSize = 64 * 1024

    init(store: any JobStore, jobID: JobID) {
        self.store = store
        self.jobID = jobID
    }

    /// Appends one line (without its newline), stamped with the time and where it came from.
    func line(_ source: String, _ text: String) async {
        buffer += "\(LogLine.timestamp()) [\(source)] \(text)\n"
        if buffer.utf8.count >= Self.flushSize {
            await flush()
        } else {
            scheduleFlush()
        }
    }

    private func scheduleFlush() {
        guard flusher == nil else { return }
        flusher = Task { [weak self] in
            try? await Task.sleep(for: Self.flushInterval)
            await self?.flush()
        }
    }

    /// Writes what is buffered now.
    func flush() async {
        // Not cancelled: this may be the flusher itself, and a cancelled task's write fails.
        flusher = nil
        guard !buffer.isEmpty else { return }
        let text = buffer
        buffer = ""
        do {
            try await store.appendLog(jobID: jobID, text: text)
        } catch .notRunning {
            // The job was taken from this replica (its lease ran out): these lines must not
            // land after the job's end, and no later flush will place them.
        } catch {
            // Keep the text: a later flush tries again rather than losing it.
            buffer = text + buffer
            scheduleFlush()
        }
    }
}

/// Turns one output stream of a step into masked, complete lines for a `LogSink`.
struct LineAssembler {
    private var masker: SecretMasker
    private var partial: [UInt8] = []
    /// A line longer than this is cut, so a step printing without newlines still shows up.
    static let maxLine = 16 * 1024

    init(secrets: [String]) {
        masker = SecretMasker(secrets: secrets)
    }

    mutating func feed(_ bytes: some Sequence<UInt8>) -> [String] {
        split(masker.feed(bytes), final: false)
    }

    mutating func finish() -> [String] {
        split(masker.finish(), final: true)
    }

    private mutating func split(_ bytes: [UInt8], final: Bool) -> [String] {
        partial.append(contentsOf: bytes)
        var lines: [String] = []
        while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(Self.text(partial[..<newline]))
            partial.removeFirst(newline + 1)
        }
        while partial.count >= Self.maxLine {
            lines.append(Self.text(partial[..<Self.maxLine]))
            partial.removeFirst(Self.maxLine)
        }
        if final && !partial.isEmpty {
            lines.append(Self.text(partial[...]))
            partial.removeAll()
        }
        return lines
    }

    private static func text(_ bytes: ArraySlice<UInt8>) -> String {
        var line = String(decoding: bytes, as: UTF8.self)
        if line.hasSuffix("\r") { line.removeLast() }
        return line
    }
}
