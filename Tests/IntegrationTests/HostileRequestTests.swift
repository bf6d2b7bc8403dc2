import DrayStoreTesting
import Foundation
import NIOCore
import Testing

/// Requests written to hurt, against a real `dray serve`: what a browser led by another site
/// sends, bodies cut short, output that tries to forge live-log events.
@Suite("Hostile requests")
struct HostileRequestTests {
    @Test("another site's Origin, Sec-Fetch-Site: cross-site and a foreign Host get 403; curl's requests pass")
    func browsers() async throws {
        let server = try await ServerProcess.started("browsers", arguments: ["--public-name", "dray.example"])
        defer { server.stop() }
        let job = ServerProcess.shellJob("echo hi")
        let refused: [[String: String]] = [
            ["Origin": "http://evil.example"], ["Origin": "null"], ["Origin": "http://127.0.0.1:1"],
            ["Sec-Fetch-Site": "cross-site"], ["Host": "evil.example:\(server.port)"],
            ["Host": "rebound.example"],
            // DNS rebinding through a name that looks like a loopback address.
            [
                "Host": "127.a.attacker.example:\(server.port)",
                "Origin": "http://127.a.attacker.example:\(server.port)",
            ],
            ["Host": "127.0.0.1.attacker.example"],
        ]
        for headers in refused {
            let answer = try await server.request(.POST, "/jobs", body: job, headers: headers)
            #expect(answer.status == 403, "\(headers)")
            #expect(answer.json["error"] is String, "\(headers)")
        }
        let allowed: [[String: String]] = [
            [:], ["Origin": server.url], ["Host": "localhost:\(server.port)"], ["Host": "dray.example"],
            ["Sec-Fetch-Site": "same-origin", "Origin": server.url],
        ]
        for headers in allowed {
            #expect(try await server.request(.GET, "/jobs", headers: headers).status == 200, "\(headers)")
        }
        #expect(try await server.request(.POST, "/jobs", body: job, headers: ["Origin": server.url]).status == 201)
    }

    @Test("HEAD answers wherever GET does, with GET's headers and no body")
    func head() async throws {
        let server = try await ServerProcess.started("head")
        defer { server.stop() }
        for path in ["/jobs", "/healthz", "/openapi.yaml", "/schema/job.json"] {
            let get = try await server.request(.GET, path)
            let head = try await server.request(.HEAD, path)
            #expect(head.status == 200, "\(path)")
            #expect(head.body.isEmpty, "\(path)")
            #expect(head.headers["content-type"] == get.headers["content-type"], "\(path)")
            #expect(head.headers["content-length"] == String(get.body.count), "\(path)")
        }
        #expect(try await server.request(.HEAD, "/jobs/NOPE").status == 404)
        let post = try await server.request(.PUT, "/jobs")
        #expect(post.headers["allow"] == "GET, HEAD, POST")
    }

    @Test("a body cut short is a 400 with a JSON message")
    func truncatedBody() async throws {
        let server = try await ServerProcess.started("truncated")
        defer { server.stop() }
        let answer = try RawHTTP.exchange(
            port: server.port,
            "POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"steps\":", closeWriting: true)
        #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
        #expect(
            answer.contains(
                #"{"error":"the request is not valid HTTP: it ended before its body did: send the whole body"}"#),
            "\(answer)")
    }

    @Test("a client slower than --header-timeout to send its headers is disconnected; a request kept alive is not")
    func slowHeaders() async throws {
        let server = try await ServerProcess.started("slow", arguments: ["--header-timeout", "2s"])
        defer { server.stop() }
        let started = ContinuousClock.now
        let answer = try RawHTTP.trickle(
            port: server.port, "GET /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n", every: .milliseconds(300))
        #expect(answer.isEmpty, "\(answer)")
        let took = ContinuousClock.now - started
        #expect(took < .seconds(8), "disconnected after \(took)")
        // Two requests a second apart on one connection are both answered.
        let twice = try RawHTTP.exchange(
            port: server.port,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            closeWriting: false)
        #expect(twice.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "\(twice)")
    }

    @Test("a client that sends its headers and then stalls its body is disconnected after --body-timeout")
    func stalledBody() async throws {
        let server = try await ServerProcess.started("stalled", arguments: ["--body-timeout", "2s"])
        defer { server.stop() }
        let started = ContinuousClock.now
        let answer = try RawHTTP.exchange(
            port: server.port, "POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"steps\":",
            closeWriting: false, readFor: .seconds(20))
        #expect(answer.isEmpty, "\(answer)")
        let took = ContinuousClock.now - started
        #expect(took < .seconds(12), "disconnected after \(took)")
    }

    @Test("a request the HTTP parser refuses gets a 400 with a JSON message")
    func badHTTP() async throws {
        let server = try await ServerProcess.started("badhttp")
        defer { server.stop() }
        let answer = try RawHTTP.exchange(
            port: server.port, "GET /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n", closeWriting: false)
        #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
        #expect(answer.contains("Content-Type: application/json"), "\(answer)")
        #expect(answer.contains(#"{"error":"the request is not valid HTTP: "#), "\(answer)")
    }

    @Test("a step's bare CRs cannot forge live-log events; the end event is JSON")
    func forgedEvents() async throws {
        let server = try await ServerProcess.started("forge")
        defer { server.stop() }
        let script = #"printf 'x\revent: end\rdata: {"status":"complete"}\r\r\n'; exit 3"#
        let created = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob(script))
        let id = try #require(created.json["id"] as? String)
        let stream = try await server.request(.GET, "/jobs/\(id)/log?follow=true", timeout: .seconds(120))
        let text = String(decoding: stream.body, as: UTF8.self)
        let events = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(events.count == 2, "\(text)")
        #expect(events.first == "id: 0\ndata: x\ndata: event: end\ndata: data: {\"status\":\"complete\"}\ndata: ")
        #expect(events.last == #"event: end\#ndata: {"status":"error","stepsCompleted":0}"#)
        #expect(!text.contains("\r"))
    }

    @Test("followers that went away while the job prints nothing have their sockets closed within 30 s")
    func followersGone() async throws {
        let server = try await ServerProcess.started("gone")
        defer { server.stop() }
        let created = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("echo hi; sleep 120"))
        let id = try #require(created.json["id"] as? String)
        // The step has printed: each follower below gets its line at once.
        try await server.waitForLog(id, ["hi"])
        for _ in 0..<5 {
            let answer = try RawHTTP.exchange(
                port: server.port, "GET /jobs/\(id)/log?follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                closeWriting: false, readFor: .seconds(1))
            #expect(answer.contains("data: hi"), "\(answer)")
        }
        // Without the heartbeat they would stay in CLOSE_WAIT until the job ends, in 120 s.
        var waiting = RawHTTP.closeWaitCount(port: server.port)
        let deadline = ContinuousClock.now + .seconds(30)
        while waiting > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .seconds(1))
            waiting = RawHTTP.closeWaitCount(port: server.port)
        }
        #expect(waiting == 0, "\(waiting) sockets still in CLOSE_WAIT after 30 s")
        _ = try await server.request(.POST, "/jobs/\(id)/cancel")
    }

    @Test("a follower of a quiet job gets a keep-alive comment, so that one that went away is noticed")
    func heartbeat() async throws {
        let server = try await ServerProcess.started("heartbeat")
        defer { server.stop() }
        // 25 s of silence: at least one heartbeat even when the follow starts late on a busy machine.
        let created = try await server.request(.POST, "/jobs", body: ServerProcess.shellJob("sleep 25; echo done"))
        let id = try #require(created.json["id"] as? String)
        let stream = try await server.request(.GET, "/jobs/\(id)/log?follow=true", timeout: .seconds(120))
        let text = String(decoding: stream.body, as: UTF8.self)
        let beat = try #require(text.range(of: ": keep-alive\n\n"), "\(text)")
        #expect(text.range(of: "data: done")?.lowerBound ?? text.startIndex > beat.lowerBound, "\(text)")
        #expect(text.hasSuffix(#"event: end\#ndata: {"status":"complete","stepsCompleted":1}\#n\#n"#))
    }
}

/// A request written byte for byte on a socket, as no HTTP client library would send it.
enum RawHTTP {
    /// Sends `request` one byte every `interval` until the server closes the connection;
    /// returns what it answered.
    static func trickle(port: Int, _ request: String, every interval: Duration) throws -> String {
        let fd = try connected(port)
        defer { close(fd) }
        signal(SIGPIPE, SIG_IGN)
        for byte in Array(request.utf8) + Array(repeating: UInt8(ascii: "x"), count: 100) {
            var one = byte
            if send(fd, &one, 1, Int32(MSG_NOSIGNAL)) <= 0 { break }
            var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&waiting, 1, Int32(interval / .milliseconds(1))) > 0 { break }
        }
        return read(fd)
    }

    /// Sends `request` to 127.0.0.1:`port`, optionally closes the writing side, and returns all
    /// that comes back until the server closes or 10 s pass.
    static func exchange(port: Int, _ request: String, closeWriting: Bool, readFor: Duration = .seconds(10)) throws
        -> String
    {
        let fd = try connected(port, readTimeout: readFor)
        defer { close(fd) }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if closeWriting { shutdown(fd, Int32(SHUT_WR)) }
        return read(fd)
    }

    /// How many of the server's sockets on `port` the peer has closed and the server has not:
    /// TCP state CLOSE_WAIT (08) in /proc/net/tcp.
    static func closeWaitCount(port: Int) -> Int {
        guard let table = procFile("/proc/net/tcp") else { return 0 }
        let local = String(format: ":%04X", port)
        return table.split(separator: "\n").dropFirst().filter { row in
            let fields = row.split(separator: " ")
            return fields.count > 3 && fields[1].hasSuffix(local) && fields[3] == "08"
        }.count
    }

    /// A socket connected to 127.0.0.1:`port`, that gives up reading after `readTimeout` of silence.
    private static func connected(_ port: Int, readTimeout: Duration = .seconds(10)) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        var timeout = timeval(tv_sec: Int(readTimeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Everything the server sends until it closes, or 10 s of silence.
    private static func read(_ fd: Int32) -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
