import DrayStoreTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The test engine behind TLS, as a remote engine run with `--tlsverify` is: socat listens on a
/// loopback port with a server certificate, requires a client certificate signed by the same CA,
/// and forwards to the engine's unix socket. `certificates` is a `DOCKER_CERT_PATH` folder with
/// `ca.pem`, `cert.pem` and `key.pem`.
final class TLSEngineProxy {
    let port: Int
    let folder: String
    private var pid: pid_t = 0

    var certificates: String { folder + "/client" }

    /// The environment that points `dray` at the proxy, with the certificates in `certificatePath`.
    func environment(certificatePath: String? = nil) -> [String: String] {
        [
            "DOCKER_HOST": "tcp://127.0.0.1:\(port)", "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": certificatePath ?? certificates,
        ]
    }

    /// Makes a CA, a server certificate for `serverNames` (`IP:127.0.0.1`, `DNS:engine.example`)
    /// and a client certificate, then starts socat.
    init(serverNames: String = "IP:127.0.0.1") async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("dray-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/client", withIntermediateDirectories: true)
        try await Self.makeCA(named: "ca", in: folder)
        try await Self.sign("server", extensions: "subjectAltName=\(serverNames)", in: folder)
        try await Self.sign("client", extensions: "extendedKeyUsage=clientAuth", in: folder)
        for (from, to) in [
            ("ca.pem", "client/ca.pem"), ("client.pem", "client/cert.pem"), ("client-key.pem", "client/key.pem"),
        ] {
            try FileManager.default.copyItem(atPath: folder + "/" + from, toPath: folder + "/" + to)
        }
        let engine = try TestEngine.Kind.docker.host()
        let socket = try #require(engine.hasPrefix("unix://") ? String(engine.dropFirst(7)) : nil, "\(engine)")
        port = try LoopbackPort.free()
        // -t: after one direction ends (stdin's close_notify), wait for the other as long as a
        // step runs, not socat's default half second.
        pid = try ChildProcess.spawn(
            [
                "/usr/bin/env", "socat", "-t", "3600",
                "OPENSSL-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork,cert=\(folder)/server.pem,key=\(folder)/server-key.pem,cafile=\(folder)/ca.pem,verify=1",
                "UNIX-CONNECT:\(socket)",
            ], stdout: "/dev/null", stderr: "/dev/null")
        for _ in 0..<100 {
            if isListening { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        Issue.record("socat did not listen on port \(port)")
        throw CancellationError()
    }

    /// Whether socat accepts connections yet (a connect test that does not start a TLS handshake).
    private var isListening: Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Stops socat (and the connections it forked) and removes the certificates.
    func stop() {
        ChildProcess.terminate(pid)
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A self-signed CA: `NAME.pem` and `NAME-key.pem` in `folder`.
    static func makeCA(named name: String, in folder: String) async throws {
        try await Shell.check(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "1", "-subj", "/CN=dray-test-\(name)", "-keyout", "\(name)-key.pem", "-out", "\(name).pem",
            ], in: folder)
    }

    /// A certificate `NAME.pem` (key `NAME-key.pem`) signed by the CA in `folder`.
    private static func sign(_ name: String, extensions: String, in folder: String) async throws {
        try await Shell.check(
            [
                "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                "/CN=\(name)", "-keyout", "\(name)-key.pem", "-out", "\(name).csr",
            ], in: folder)
        try Data((extensions + "\n").utf8).write(to: URL(fileURLWithPath: folder + "/\(name).ext"))
        try await Shell.check(
            [
                "openssl", "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-days", "1", "-extfile", "\(name).ext", "-out", "\(name).pem",
            ], in: folder)
    }
}
