import Foundation
import Crypto
public import Logging
public import NIOSSL
import SwiftASN1
import X509

/// The server's certificate and key: from configured PEM files, or a self-signed pair
/// generated into the data dir at first start and reused afterwards.
public struct TLSIdentity: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String
    /// SHA-256 of the certificate's DER form, as `AB:CD:...`, for pinning by hand.
    public let fingerprint: String
    public let certificatePath: String

    /// Loads the PEM files at the given paths.
    public static func load(certificate: String, key: String) throws(ServerStartError) -> TLSIdentity {
        do {
            let certificatePEM = try String(contentsOfFile: certificate, encoding: .utf8)
            let keyPEM = try String(contentsOfFile: key, encoding: .utf8)
            let parsed = try Certificate(pemEncoded: certificatePEM)
            return TLSIdentity(certificatePEM: certificatePEM, privateKeyPEM: keyPEM,
                               fingerprint: try fingerprint(of: parsed), certificatePath: certificate)
        } catch {
            throw .tls("cannot load the TLS certificate \(certificate) and key \(key): \(error)")
        }
    }

    /// Reuses `dir/server.crt` and `dir/server.key`, creating them first when missing.
    public static func selfSigned(in dir: String, hostnames: [String], logger: Logger) throws(ServerStartError) -> TLSIdentity {
        let certificatePath = (dir as NSString).appendingPathComponent("server.crt")
        let keyPath = (dir as NSString).appendingPathComponent("server.key")
        if FileManager.default.fileExists(atPath: certificatePath), FileManager.default.fileExists(atPath: keyPath) {
            return try load(certificate: certificatePath, key: keyPath)
        }
        do {
            let key = P256.Signing.PrivateKey()
            let name = try DistinguishedName { CommonName("Slipway self-signed certificate") }
            var names: [GeneralName] = [.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                                        .ipAddress(ASN1OctetString(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]))]
            for host in Set(hostnames + ["localhost"]).sorted() { names.append(.dnsName(host)) }
            let now = Date()
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(),
                publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(825 * 86400),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    // Its own issuer: clients trust it as a root (`--ca-file`), and TLS libraries
                    // only accept a self-signed root that says it is a CA. Path length 0: it signs nothing else.
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                    try ExtendedKeyUsage([.serverAuth])
                    SubjectAlternativeNames(names)
                },
                issuerPrivateKey: .init(key))
            let certificatePEM = try certificate.serializeAsPEM().pemString + "\n"
            let keyPEM = key.pemRepresentation + "\n"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: keyPath, contents: Data(keyPEM.utf8), attributes: [.posixPermissions: 0o600]),
                  FileManager.default.createFile(atPath: certificatePath, contents: Data(certificatePEM.utf8), attributes: [.posixPermissions: 0o644])
            else { throw CocoaError(.fileWriteUnknown) }
            let identity = TLSIdentity(certificatePEM: certificatePEM, privateKeyPEM: keyPEM,
                                       fingerprint: try fingerprint(of: certificate), certificatePath: certificatePath)
            logger.notice("generated a self-signed TLS certificate", metadata: [
                "path": "\(certificatePath)", "sha256-fingerprint": "\(identity.fingerprint)",
            ])
            return identity
        } catch {
            throw .tls("cannot create a self-signed certificate in \(dir): \(error)")
        }
    }

    static func fingerprint(of certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    /// A server configuration that refuses anything older than TLS 1.2.
    public func serverConfiguration() throws(ServerStartError) -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            return configuration
        } catch {
            throw .tls("the TLS certificate or key is not usable: \(error)")
        }
    }
}

/// Why `slipway serve` could not start.
public enum ServerStartError: Error, Sendable, CustomStringConvertible {
    case tls(String)
    case store(String)

    public var description: String {
        switch self {
        case .tls(let why), .store(let why): why
        }
    }
}
