import SlipwayConfig
import Testing

/// Found by fuzzing (`script/fuzz`, manifests): Yams's constructor traps on a mapping key
/// that is not a plain value, which a commit's manifest could carry.
@Suite struct YAMLComplexKeyTests {
    @Test func aMappingOrListAsAKeyIsAnErrorWithItsLine() throws {
        for text in ["apiVersion: v1\nkind: ConfigMap\n? {a: 1}\n: x\n", "metadata:\n  ? [1, 2]\n  : 3\n"] {
            #expect(throws: ConfigError.self) { try YAMLDocuments.parse(text, file: "deploy/app.yaml") }
            do {
                _ = try YAMLDocuments.parse(text, file: "deploy/app.yaml")
            } catch {
                #expect(error.description.hasPrefix("deploy/app.yaml:"), "\(error)")
                #expect(error.message == "a mapping key must be a plain value, not a mapping, a list or an alias")
            }
        }
        // Aliases and anchors as values are still fine.
        #expect(try YAMLDocuments.parse("a: &x {b: 1}\nc: *x\n", file: "f.yaml").count == 1)
    }
}
