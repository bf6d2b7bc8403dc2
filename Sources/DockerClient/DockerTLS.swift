import Foundation
import NIOCore
import NIOSSL

/// TLS to the engine as the docker CLI sets it up: `DOCKER_CERT_PATH` holds `ca.pem` (the CA
/// that signs the engine's certificate; without it, the system's CAs), and `cert.pem` with
/// `key.pem` (the client's certificate, which an engine run with `--tlsverify` asks for).
/// The engine's certificate and name are always verified.
struct DockerTLS: Sendable {
    let configuration: TLSConfiguration
    /// For the attach connection, which is made outside AsyncHTTPClient.
    let context: NIOSSLContext
    let host: String

    init(host: String, certificates folder: String) throws(DockerClientError) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw .configuration(
                "DOCKER_CERT_PATH \"\(folder)\" is not a folder; it must hold ca.pem, cert.pem and key.pem")
        }
        func file(_ name: String) -> String? {
            let path = (folder as NSString).appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        do {
            if let ca = file("ca.pem") {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            }
            switch (file("cert.pem"), file("key.pem")) {
            case (nil, nil):
                break
            case (let cert?, let key?):
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            case (let cert, _):
                throw DockerClientError.configuration(
                    "DOCKER_CERT_PATH \"\(folder)\" has \(cert == nil ? "key.pem but no cert.pem" : "cert.pem but no key.pem"); "
                        + "a client certificate needs both")
            }
            context = try NIOSSLContext(configuration: configuration)
        } catch let error as DockerClientError {
            throw error
        } catch {
            throw .configuration("cannot read the TLS files in DOCKER_CERT_PATH \"\(folder)\": \(error)")
        }
        self.configuration = configuration
        self.host = host
    }

    /// The handler that starts the attach connection's TLS, checking the engine's name (or, for
    /// an address, the address in its certificate).
    func handler() throws -> NIOSSLClientHandler {
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
    }

    /// A transport error that comes from TLS, told as such, with what to check.
    static func explain(_ error: any Error, endpoint: DockerEndpoint) -> String? {
        guard error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError else { return nil }
        let text = String(describing: error)
        // BoringSSL's reason, without the source location it carries: CERTIFICATE_VERIFY_FAILED.
        let reason = text.firstMatch(of: /OPENSSL_internal:([A-Z0-9_]+)/).map { String($0.1) }
        let advice: String
        switch reason {
        case "CERTIFICATE_VERIFY_FAILED":
            advice = "the engine's certificate is not signed by the CA in DOCKER_CERT_PATH's ca.pem, or has expired"
        case "TLSV1_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA",
            "SSLV3_ALERT_HANDSHAKE_FAILURE":
            advice =
                "the engine refused Dray's client certificate: DOCKER_CERT_PATH needs cert.pem and key.pem "
                + "signed by a CA the engine trusts"
        case nil where text.contains("failedToValidateHostname"):
            advice = "the engine's certificate does not name the host in DOCKER_HOST"
        default:
            advice = "check DOCKER_CERT_PATH's ca.pem, cert.pem and key.pem"
        }
        return "the TLS handshake with the Docker engine at \(endpoint) failed (\(reason ?? text)): \(advice)"
    }
}
