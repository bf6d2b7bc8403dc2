import ArgumentParser
import DrayAPI
import DrayEngine
import Foundation

/// `dray token create|ls|revoke`: a project's tokens, for its admins and the server's token.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Make, list and revoke a project's tokens (read, submit or admin).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token; prints it, the only time it is shown.",
            discussion: """
                The server keeps only the token's SHA-256. read lists and shows jobs, logs and \
                outputs; submit also submits, cancels, resumes and deletes the project's jobs; \
                admin also manages the project's tokens and reads its audit log.
                """)

        @OptionGroup var client: ClientOptions
        @Option(help: "The project the token belongs to (a project's admin: its own).") var project: String?
        @Option(help: "read, submit or admin.") var scope: Scope
        @Option(help: "A name for the audit log, such as the person or the robot.") var name: String
        @Option(help: ArgumentHelp("When it stops working, from now (90d, 12h; at most 366d).", valueName: "duration"))
        var expires: String?

        func run() async throws {
            var body: [String: Any] = ["scope": scope.rawValue, "name": name]
            if let project { body["project"] = project }
            if let expires { body["expiresIn"] = expires }
            let api = try client.api
            let made = try await reporting {
                try await api.json(
                    TokenView.self, .POST, "/tokens", body: try JSONSerialization.data(withJSONObject: body))
            }
            FileHandle.standardError.write(
                Data(
                    "dray: token \(made.id) of project \(made.project), \(made.scope.rawValue): keep it now, it is not shown again\n"
                        .utf8))
            print(made.token ?? "")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List the tokens (never their text).")
        @OptionGroup var client: ClientOptions
        @Option(help: "Only this project's (the server's token sees every project's).") var project: String?

        struct Page: Decodable { var tokens: [TokenView] }

        func run() async throws {
            let api = try client.api
            let path = project.map { "/tokens?project=\($0)" } ?? "/tokens"
            for token in try await reporting({ try await api.json(Page.self, .GET, path) }).tokens {
                print(VisibleText.shown(token.line, raw: client.raw))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke tokens: refused at once, on every node.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The tokens' ids.") var ids: [String]

        func run() async throws {
            let api = try client.api
            for id in ids {
                _ = try await reporting { try await api.send(.DELETE, "/tokens/\(id)") }
            }
        }
    }
}

extension Scope: ExpressibleByArgument {}

extension TokenView {
    /// One line: id, project, scope, name, state.
    var line: String {
        let state =
            revokedAt.map { "revoked \($0.formatted(.iso8601))" }
            ?? expiresAt.map { "expires \($0.formatted(.iso8601))" } ?? "no expiry"
        return "\(id)  \(project)  \(scope.rawValue)  \(name)  \(state)"
    }
}

/// `dray audit`: the audit log, newest first.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Show the audit log, newest first: who changed what, and what was refused.")

    @OptionGroup var client: ClientOptions
    @Option(help: "Only this project's entries.") var project: String?
    @Option(help: "At most this many entries.") var limit = 100
    @Flag(help: "Print each entry as a line of JSON.") var json = false

    struct Page: Decodable {
        var entries: [AuditEntry]
        var next: String?
    }

    func validate() throws {
        guard (1...100_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 100000") }
    }

    func run() async throws {
        let api = try client.api
        var printed = 0
        var cursor: String?
        repeat {
            var path = "/audit?limit=\(min(1000, limit - printed))"
            if let project { path += "&project=\(project)" }
            if let cursor { path += "&cursor=\(cursor)" }
            let page = try await reporting { try await api.json(Page.self, .GET, path) }
            for entry in page.entries {
                if json {
                    let encoder = JSONEncoder()
                    encoder.dateEncodingStrategy = .iso8601
                    encoder.outputFormatting = .sortedKeys
                    print(String(decoding: try encoder.encode(entry), as: UTF8.self))
                } else {
                    print(VisibleText.shown(Self.line(entry), raw: client.raw))
                }
            }
            printed += page.entries.count
            cursor = page.next
        } while cursor != nil && printed < limit
    }

    /// One line: time, outcome, action, target, project, token, address.
    static func line(_ entry: AuditEntry) -> String {
        [
            entry.time.formatted(.iso8601), entry.outcome, entry.action, entry.target ?? "-",
            entry.project ?? "-", entry.token.map { "\($0.name) (\($0.id))" } ?? "-", entry.address ?? "-",
            entry.detail ?? "",
        ].joined(separator: "  ")
    }
}
