import Logging
import SlipwayServer
import Synchronization
import Testing

/// The server's log lines are `StreamLogHandler`'s, though its metadata is formatted only when written.
@Suite struct ServerLogHandlerTests {
    final class Lines: TextOutputStream, Sendable {
        let written = Mutex<[String]>([])
        func write(_ string: String) { written.withLock { $0.append(string) } }
    }

    @Test func writesWhatStreamLogHandlerWrites() {
        let ours = Lines(), theirs = Lines()
        var server = Logger(label: "slipway") { label in
            ServerLogHandler(label: label, metadataProvider: nil) { StreamLogHandler(label: $0, stream: ours, metadataProvider: $1) }
        }
        var stream = Logger(label: "slipway") { StreamLogHandler(label: $0, stream: theirs, metadataProvider: nil) }
        server.logLevel = .notice
        stream.logLevel = .notice
        server[metadataKey: "request"] = "r1"
        stream[metadataKey: "request"] = "r1"
        server.info("below the level")
        server.notice("job queued", metadata: ["job": "7"])
        stream.notice("job queued", metadata: ["job": "7"])
        server.warning("plain")
        stream.warning("plain")
        // The same lines but for their time stamps (the first field).
        let withoutTime = { (line: String) in line.split(separator: " ", maxSplits: 1).last.map(String.init) ?? line }
        let written = ours.written.withLock { $0 }
        #expect(written.count == 2)
        #expect(written.map(withoutTime) == theirs.written.withLock { $0 }.map(withoutTime))
        #expect(written.first?.contains("request=r1") == true && written.first?.contains("job=7") == true, "\(written)")
        #expect(server[metadataKey: "request"] == "r1")
    }
}
