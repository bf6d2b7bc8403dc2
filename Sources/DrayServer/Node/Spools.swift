import DrayEngine
import Foundation
import NIOFileSystem

/// Where this node keeps each job's step outputs (for the next step, for resume and for
/// `/output`), and which it has freed.
actor Spools {
    let root: FilePath
    /// Jobs whose spools were freed already (`--keep-outputs`).
    private var freed: Set<String> = []

    init(root: FilePath) {
        self.root = root
    }

    nonisolated func directory(of id: String) -> FilePath {
        root.appending(id)
    }

    /// The file holding step `step`'s output (from 0), or nil when it is not here.
    nonisolated func output(of id: String, step: Int) async -> FilePath? {
        let path = JobRunner.outputPath(step: step, in: directory(of: id))
        return (try? await FileSystem.shared.info(forFileAt: path)) == nil ? nil : path
    }

    func wasFreed(_ id: String) -> Bool { freed.contains(id) }

    /// The jobs whose spool is here, last written before `date`.
    func written(before date: Date) async -> [String] {
        var ids: [String] = []
        do {
            try await FileSystem.shared.withDirectoryHandle(atPath: root) { directory in
                for try await entry in directory.listContents() where entry.type == .directory {
                    let modified = try await FileSystem.shared.info(forFileAt: entry.path)?.lastDataModificationTime
                    if let modified,
                        Double(modified.seconds) + Double(modified.nanoseconds) / 1e9 < date.timeIntervalSince1970
                    {
                        ids.append(entry.name.string)
                    }
                }
            }
        } catch {
            // No spool folder yet: nothing to free.
        }
        return ids
    }

    /// Removes a job's spool; `keep` remembers that it was freed rather than deleted.
    func remove(_ id: String, keepingRecord keep: Bool = false) async {
        _ = try? await FileSystem.shared.removeItem(at: directory(of: id), recursively: true)
        if keep { freed.insert(id) } else { freed.remove(id) }
    }

    /// Forgets that a job's spool was freed: it runs again and writes a new one.
    func forget(_ id: String) { freed.remove(id) }
}
