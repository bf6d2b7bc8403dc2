import DrayEngine
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An exclusive `flock` on a file beside the SQLite store, held while a node of this process
/// has joined: SQLite is one host's file, so the lock tells a second live process (which is
/// refused at once) from a dead one (whose lease need not be waited for: the lock is free the
/// moment its process ends, `kill -9` included).
final class NodeLock: Sendable {
    let path: String
    private let state = Mutex<(descriptor: Int32?, nodes: Set<String>)>((nil, []))

    init(path: String) {
        self.path = path
    }

    /// Takes the lock if this process does not hold it yet; returns the nodes of this process
    /// that joined. Throws when another process holds it.
    func hold() throws -> Set<String> {
        try state.withLock { state in
            if state.descriptor == nil {
                let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
                guard descriptor >= 0 else {
                    throw DrayError(
                        .storage,
                        "cannot open the SQLite store's lock file \(path): \(String(cString: strerror(errno)))")
                }
                guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                    let reason = errno
                    close(descriptor)
                    if reason == EWOULDBLOCK {
                        throw DrayError(
                            .conflict,
                            "another dray process uses this SQLite store (it holds \(path)): SQLite holds one node at a time; stop that process, or run several nodes on PostgreSQL (--store postgres://…)"
                        )
                    }
                    throw DrayError(.storage, "cannot lock \(path): \(String(cString: strerror(reason)))")
                }
                state.descriptor = descriptor
            }
            return state.nodes
        }
    }

    /// `node` of this process has joined: the lock stays until it leaves.
    func joined(_ node: String) {
        state.withLock { _ = $0.nodes.insert(node) }
    }

    /// Gives up `node`'s hold; the lock goes with the last node of this process.
    func release(for node: String) {
        state.withLock { state in
            state.nodes.remove(node)
            if state.nodes.isEmpty, let descriptor = state.descriptor {
                close(descriptor)
                state.descriptor = nil
            }
        }
    }
}
