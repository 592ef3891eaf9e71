/// Replaces every configured secret value with `***` in a byte stream, also when a value
/// arrives split across two reads: bytes that could be the start of a secret are held back
/// until the next read shows whether they are.
public struct SecretMasker: Sendable {
    private let secrets: [[UInt8]]
    private var pending: [UInt8] = []
    public static let mask = Array("***".utf8)

    public init(secrets: [String]) {
        // Longest first, so a secret that contains another is masked whole.
        self.secrets = Set(secrets.filter { !$0.isEmpty }).map { Array($0.utf8) }.sorted { $0.count > $1.count }
    }

    /// Masked bytes that are safe to emit now.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        pending.append(contentsOf: bytes)
        return drain(final: false)
    }

    /// `text` with every secret masked, as one whole piece.
    public func masking(_ text: String) -> String {
        var copy = self
        copy.pending = []
        return String(decoding: copy.feed(Array(text.utf8)) + copy.finish(), as: UTF8.self)
    }

    /// Everything still held back, masked: call when the stream ends.
    public mutating func finish() -> [UInt8] {
        drain(final: true)
    }

    private mutating func drain(final: Bool) -> [UInt8] {
        guard !secrets.isEmpty else {
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        var output: [UInt8] = []
        output.reserveCapacity(pending.count)
        var index = 0
        scanning: while index < pending.count {
            var couldStartSecret = false
            for secret in secrets where secret[0] == pending[index] {
                let available = pending.count - index
                if available >= secret.count {
                    if pending[index..<index + secret.count].elementsEqual(secret) {
                        output.append(contentsOf: Self.mask)
                        index += secret.count
                        continue scanning
                    }
                } else if pending[index...].elementsEqual(secret[..<available]) {
                    couldStartSecret = true
                }
            }
            if couldStartSecret && !final { break }
            output.append(pending[index])
            index += 1
        }
        pending.removeFirst(index)
        return output
    }
}
