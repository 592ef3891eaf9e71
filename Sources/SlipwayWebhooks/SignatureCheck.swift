import Crypto
import Foundation
import SlipwayCore

/// HMAC checks shared by the adapters. Every comparison is constant-time (swift-crypto's
/// `isValidAuthenticationCode`), so response timing tells nothing about how close a guess was.
enum SignatureCheck {
    /// True when `hexSignature` is the HMAC-SHA256 of `body` under one of `secrets`.
    static func hmacSHA256Hex(_ hexSignature: String, body: Data, secrets: [SecretValue]) -> Bool {
        guard let mac = Hex.decode(hexSignature), mac.count == SHA256.byteCount else { return false }
        return hmacSHA256(mac, body: body, keys: secrets.map { Data($0.value.utf8) })
    }

    /// True when `mac` is the HMAC-SHA256 of `body` under one of `keys`. Every key is tried,
    /// so the time taken does not depend on which key matched.
    static func hmacSHA256(_ mac: Data, body: Data, keys: [Data]) -> Bool {
        var matched = false
        for key in keys {
            let valid = HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: SymmetricKey(data: key))
            matched = matched || valid
        }
        return matched
    }

    /// Constant-time equality of a presented token with the configured secrets.
    /// Both sides are MACed under a random key first so that the comparison does not
    /// leak the length of the secret either.
    static func tokenMatches(_ presented: String, secrets: [SecretValue]) -> Bool {
        let key = SymmetricKey(size: .bits256)
        let presentedMAC = Data(HMAC<SHA256>.authenticationCode(for: Data(presented.utf8), using: key))
        var matched = false
        for secret in secrets {
            let valid = HMAC<SHA256>.isValidAuthenticationCode(presentedMAC, authenticating: Data(secret.value.utf8), using: key)
            matched = matched || valid
        }
        return matched
    }

    static func hmacSHA256Hex(body: Data, secret: SecretValue) -> String {
        Hex.encode(hmacSHA256Code(body, key: Data(secret.value.utf8)))
    }

    /// A stable delivery id for forges that send none: the body's SHA-256, so a resend of
    /// the same bytes is still recognised as the same delivery.
    static func bodyDigestID(_ body: Data) -> String {
        "sha256:" + Hex.encode(Data(SHA256.hash(data: body)))
    }
}

/// Lower-case hexadecimal encoding and decoding.
enum Hex {
    static func encode(_ data: Data) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(data.count * 2)
        for byte in data {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> Data? {
        let bytes = Array(text.utf8)
        guard bytes.count % 2 == 0 else { return nil }
        // Into an array, then one Data: appending to a Data a byte at a time went through its
        // storage's general replace for every byte (1.25 % of the server's CPU at full intake,
        // for one 64-digit signature per delivery).
        var out = [UInt8]()
        out.reserveCapacity(bytes.count / 2)
        var index = 0
        while index < bytes.count {
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return Data(out)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension SignatureCheck {
    static func hmacSHA256Code(_ data: Data, key: Data) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }
}
