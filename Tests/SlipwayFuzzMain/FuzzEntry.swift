import Foundation
import SlipwayFuzz

// `slipway-fuzz`: the fuzz targets as one program.
//
// Built by `script/fuzz` with `-sanitize=fuzzer,address -DFUZZING`, libFuzzer drives it and
// `SLIPWAY_FUZZ_TARGET` names the target (webhook, server-config, pipeline, manifests,
// kube-json). Built normally, `slipway-fuzz TARGET FILE...` runs files through a target once
// (to look at a crash input outside libFuzzer).

#if FUZZING
/// The target of this run, read once.
let fuzzTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["SLIPWAY_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("set SLIPWAY_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    fuzzTarget.run(Data(bytes: bytes, count: count))
    return 0
}
#else
@main
struct FuzzReplay {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: slipway-fuzz TARGET FILE...  (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
            return
        }
        for path in arguments.dropFirst() {
            target.run(try Data(contentsOf: URL(fileURLWithPath: path)))
            print("\(path): ok")
        }
    }
}
#endif
