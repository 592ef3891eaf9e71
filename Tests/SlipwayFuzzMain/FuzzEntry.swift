import Foundation
import SlipwayFuzz

// `slipway-fuzz`: the fuzz targets as one program.
//
// Built by `script/fuzz` with `-sanitize=fuzzer,address -DFUZZING`, libFuzzer's driver runs it and
// `SLIPWAY_FUZZ_TARGET` names the target (webhook, server-config, pipeline, manifests,
// kube-json). Built normally, `slipway-fuzz TARGET FILE...` runs files through a target once
// (to look at a crash input outside libFuzzer).

#if FUZZING
/// libFuzzer's own driver, for a program that has its own `main` (SwiftPM gives every
/// executable one, so libFuzzer's `main` is not linked in).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The entry libFuzzer's objects name; the driver below calls it for every input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let target = FuzzTarget(rawValue: ProcessInfo.processInfo.environment["SLIPWAY_FUZZ_TARGET"] ?? "") ?? .webhook
    target.run(bytes.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}

@main
struct FuzzDriver {
    static func main() {
        let name = ProcessInfo.processInfo.environment["SLIPWAY_FUZZ_TARGET"] ?? ""
        guard FuzzTarget(rawValue: name) != nil else {
            fatalError("set SLIPWAY_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv) { bytes, count in fuzzOne(bytes, count) })
    }
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
