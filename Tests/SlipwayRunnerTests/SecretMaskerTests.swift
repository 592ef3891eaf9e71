import SlipwayRunner
import Testing

@Suite struct SecretMaskerTests {
    func run(_ pieces: [String], secrets: [String]) -> String {
        var masker = SecretMasker(secrets: secrets)
        var out: [UInt8] = []
        for piece in pieces { out += masker.feed(Array(piece.utf8)) }
        out += masker.finish()
        return String(decoding: out, as: UTF8.self)
    }

    @Test func masksWholeAndSplitValues() {
        #expect(run(["a hunter2 b"], secrets: ["hunter2"]) == "a *** b")
        #expect(run(["a hun", "ter2 b"], secrets: ["hunter2"]) == "a *** b")
        #expect(run(["h", "u", "n", "t", "e", "r", "2"], secrets: ["hunter2"]) == "***")
        #expect(run(["hunter1 hunter2"], secrets: ["hunter2"]) == "hunter1 ***")
        #expect(run(["x hunte"], secrets: ["hunter2"]) == "x hunte")
        // Longest first: a secret containing another is masked whole.
        #expect(run(["abcdef"], secrets: ["abc", "abcdef"]) == "***")
        #expect(run(["nothing here"], secrets: []) == "nothing here")
    }

    @Test func holdsBackOnlyWhatCouldBeASecret() {
        var masker = SecretMasker(secrets: ["hunter2"])
        #expect(masker.feed(Array("line one\nhun".utf8)) == Array("line one\n".utf8))
        #expect(masker.feed(Array("gry\n".utf8)) == Array("hungry\n".utf8))
    }
}
