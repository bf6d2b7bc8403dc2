import ArgumentParser
import DrayAPI
import DrayServer
import Foundation
import Logging
import NIOSSL

/// Who may call `dray serve`, and over what: the token and HTTPS flags, resolved.
///
/// Dray starts containers, which is root on the host, so a server that anyone beyond this
/// machine can reach never runs open by accident: with no token given it makes one.
struct ServeAccess {
    /// The flags and variables it is resolved from.
    struct Options {
        var host: String
        var dataDir: String
        var tokenFile: String?
        /// `DRAY_TOKEN`.
        var tokenVariable: String?
        var noAuth: Bool
        var tlsCert: String?
        var tlsKey: String?
    }

    var token: BearerToken?
    var tls: TLSConfiguration?
    /// What to log at start, and at what level: a made token and an open server are warnings,
    /// so that they show at `LOG_LEVEL=warn` too.
    var messages: [(level: Logger.Level, text: String)] = []

    /// The file a made token is kept in.
    static func tokenPath(dataDir: String) -> String { dataDir + "/token" }

    /// Checks the flags; throws a `ValidationError` naming the one that is wrong.
    static func validate(_ options: Options) throws {
        if options.noAuth && (options.tokenFile != nil || !(options.tokenVariable ?? "").isEmpty) {
            throw ValidationError("--no-auth and a token (--token-file or DRAY_TOKEN) cannot go together")
        }
        if (options.tlsCert == nil) != (options.tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: give both, or neither")
        }
    }

    /// Resolves the token (reading or making `DATA_DIR/token` when needed) and the TLS
    /// configuration.
    static func resolve(_ options: Options) throws -> ServeAccess {
        var access = ServeAccess()
        if let cert = options.tlsCert, let key = options.tlsKey {
            do {
                access.tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            } catch {
                throw ValidationError("cannot read the TLS certificate \(cert) or key \(key): \(error)")
            }
        }
        let scheme = access.tls == nil ? "http" : "https"
        if let path = options.tokenFile {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read --token-file \(path): \(error.localizedDescription)")
            }
            guard let token = BearerToken(text) else {
                throw ValidationError("--token-file \(path) must hold a token: printable ASCII with no space")
            }
            access.token = token
            access.messages.append((.notice, "requests need the token in \(path) (Authorization: Bearer)"))
        } else if let text = options.tokenVariable, !text.isEmpty {
            guard let token = BearerToken(text) else {
                throw ValidationError("DRAY_TOKEN must be printable ASCII with no space")
            }
            access.token = token
            access.messages.append((.notice, "requests need the token in DRAY_TOKEN (Authorization: Bearer)"))
        } else if options.noAuth {
            if !DrayServer.isLoopback(options.host) {
                access.messages.append(
                    (
                        .warning,
                        "--no-auth: dray serve answers anyone who reaches \(options.host) with no token, and a job "
                            + "can start any container, which is root on this host. Give a token unless a proxy in front "
                            + "checks every caller."
                    ))
            }
        } else if !DrayServer.isLoopback(options.host) {
            access.token = try storedToken(dataDir: options.dataDir, scheme: scheme, messages: &access.messages)
        }
        return access
    }

    /// The token kept in `DATA_DIR/token`, made (mode 0600) when there is none yet. A made
    /// token is logged once, with how to use it; a kept one only by where it is.
    private static func storedToken(
        dataDir: String, scheme: String, messages: inout [(level: Logger.Level, text: String)]
    ) throws -> BearerToken {
        let path = tokenPath(dataDir: dataDir)
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let token = BearerToken(text) else {
                throw ValidationError(
                    "\(path) must hold a token: printable ASCII with no space; delete it to make a new one")
            }
            messages.append(
                (
                    .notice,
                    "no token was given and dray serve listens beyond loopback: requests need the token kept in "
                        + "\(path) (Authorization: Bearer)"
                ))
            return token
        }
        let token = BearerToken.random()
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            try handle.write(contentsOf: Data((token.value + "\n").utf8))
            try handle.close()
        } catch {
            throw ValidationError("cannot keep the new token in \(path): \(error)")
        }
        messages.append(
            (
                .warning,
                "no token was given and dray serve listens beyond loopback, so it made one and kept it in \(path) "
                    + "(mode 0600). Every request but /healthz and /readyz needs it: "
                    + "curl -H 'Authorization: Bearer \(token.value)' \(scheme)://HOST:PORT/jobs, "
                    + "or DRAY_TOKEN=\(token.value) dray ls --url \(scheme)://HOST:PORT"
            ))
        return token
    }
}
