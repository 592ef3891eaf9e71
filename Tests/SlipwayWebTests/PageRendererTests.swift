import Foundation
import SlipwayCore
import SlipwayWeb
import Testing

/// The pages' HTML from their models: every value escaped, ANSI colours as spans, and every
/// field a template names actually filled (Mustache sees stored properties only).
@Suite struct PageRendererTests {
    let renderer = PageRenderer()
    let chrome = PageChrome(user: "ops <admin>", role: "admin", csrfToken: "tok\"en")

    @Test func ansiColoursBecomeSpansAndTextIsEscaped() {
        #expect(ANSIText.html("plain <b>&</b>") == "plain &lt;b&gt;&amp;&lt;/b&gt;")
        #expect(ANSIText.html("\u{1B}[1;31merror\u{1B}[0m: it") == #"<span class="a-b a-31">error</span>: it"#)
        #expect(ANSIText.html("\u{1B}[32mok\u{1B}[39m \u{1B}[4mu\u{1B}[24m") == #"<span class="a-32">ok</span> <span class="a-u">u</span>"#)
        // Cursor movement and other sequences are dropped; a lone ESC does not swallow text.
        #expect(ANSIText.html("a\u{1B}[2Kb\u{1B}[10;20Hc") == "abc")
        #expect(ANSIText.html("\u{1B}[") == "")
        #expect(ANSIText.html("x\u{1B}") == "x")
        #expect(ANSIText.html("\u{1B}[35m<script>") == #"<span class="a-35">&lt;script&gt;</span>"#)
    }

    @Test func logLinesKeepTheirNumberAndTimeStamp() {
        let lines = LogLineView.lines(of: "2026-11-28T10:00:00Z [build] one\nno stamp\n2026-11-28T10:00:01Z [build] \u{1B}[31mtwo\u{1B}[0m\n", firstNumber: 7)
        #expect(lines.map(\.number) == [7, 8, 9])
        #expect(lines.map(\.time) == ["2026-11-28T10:00:00Z", nil, "2026-11-28T10:00:01Z"])
        #expect(lines[2].html == #"[build] <span class="a-31">two</span>"#)
    }

    @Test func theAppPageShowsDriftAndAPreviewFieldByField() {
        let app = AppRow(name: "shop", sync: "OutOfSync", health: "Degraded", deployed: CommitSummary(commit: String(repeating: "a", count: 40),
                         message: "Fix <checkout>\\nbody", author: "Ada", when: Date(timeIntervalSince1970: 1_800_000_000)),
                         lastJob: JobLink(id: 4, status: "failed"), drifted: 1, reconciledAt: nil, message: "not reconciled yet")
        let drift = [ObjectRow(object: "Deployment shop/web", kind: "changed",
                               fields: [FieldRow(path: "spec.replicas", live: "5", desired: "3")])]
        let preview = PreviewView(commit: String(repeating: "b", count: 40), summary: "0 to create, 1 to change, 0 to prune, 2 unchanged",
                                  objects: [ObjectRow(object: "ConfigMap shop/settings", kind: "update",
                                                      fields: [FieldRow(path: "data.GREETING", live: "\"<hi>\"", desired: nil)])])
        let html = renderer.render(AppPage(chrome: chrome, app: app, canAdmin: true, drift: drift, history: [], preview: preview))
        #expect(html.contains(#"<span class="badge s-warn" data-field="sync">OutOfSync</span>"#))
        #expect(html.contains(#"<span class="badge s-run">changed</span> Deployment shop/web"#))
        #expect(html.contains("<td><code>spec.replicas</code></td><td><code>5</code></td><td><code>3</code></td>"))
        #expect(html.contains(#"<span class="badge s-run">update</span> ConfigMap shop/settings"#))
        #expect(html.contains("<td><code>data.GREETING</code></td><td><code>&quot;&lt;hi&gt;&quot;</code></td><td><code>(absent)</code></td>"))
        #expect(html.contains("<details open>"))
        #expect(html.contains("Fix &lt;checkout&gt;"))
        #expect(html.contains("ops &lt;admin&gt;"))
        #expect(html.contains(#"value="tok&quot;en""#))
        #expect(html.contains(">Sync</button>"))
        #expect(!renderer.render(AppPage(chrome: chrome, app: app, canAdmin: false, drift: [], history: [], preview: nil)).contains(">Sync</button>"))
    }

    @Test func theJobPageCarriesWhatItsScriptNeeds() {
        let job = Job(id: 12, app: "shop", forge: .github, deliveryID: "d", trigger: .push, ref: "refs/heads/main", before: nil,
                      commit: String(repeating: "c", count: 40), message: "m", author: "a", status: .running, reason: nil,
                      createdAt: Date(timeIntervalSince1970: 1_800_000_000), startedAt: Date(timeIntervalSince1970: 1_800_000_000), finishedAt: nil)
        let page = JobPage(chrome: chrome, job: JobRow(job, now: Date(timeIntervalSince1970: 1_800_000_065)), canCancel: true,
                           steps: [StepRow(StepRecord(stage: "build", name: "make", status: .failed, exitCode: 2))],
                           lines: LogLineView.lines(of: "a\nb\n", firstNumber: 41), lastSeq: 9, live: true, truncated: nil)
        let html = renderer.render(page)
        #expect(html.contains(#"data-job="12" data-seq="9" data-lines="42" data-live="log""#))
        #expect(html.contains(#"id="L42""#))
        #expect(html.contains("1m 05s"))
        #expect(html.contains("exit 2"))
        #expect(html.contains("Cancel job"))
    }
}
