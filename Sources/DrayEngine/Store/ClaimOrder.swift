/// The order in which a claim takes queued jobs, the same in every store:
/// - the highest ``Priority`` first;
/// - among the projects with a job of that priority waiting, and under their
///   `maxRunningJobs`, the one whose last turn came longest ago (a project that never had one
///   first, then by name), so that a project with 10,000 queued jobs does not starve one with 10;
/// - within that project and priority, the oldest job.
/// Each claimed job gives its project a new turn, the store's next number.
public enum ClaimOrder {
    /// SQL for SQLite and PostgreSQL, over `jobs` (`priority`, `project`, `seq`), `projects`
    /// (`name`, `max_running`) and `project_turns` (`project`, `turn`): the one `priority` and
    /// `project` to claim from next, or no row. Running jobs are counted only in the projects
    /// that have a `maxRunningJobs`: with none, a claim does not read the running jobs at all.
    public static let nextQueueSQL = nextQueueSQL(
        heads: """
            WITH heads AS (
                SELECT priority, project FROM jobs WHERE \(queued) GROUP BY priority, project
            )
            """)

    /// ``nextQueueSQL`` for PostgreSQL, whose `heads` skip through the `jobs_queue` index, one
    /// seek for each priority and project that has a job waiting, rather than read every
    /// waiting job.
    public static let nextQueueSkippingSQL = nextQueueSQL(
        heads: """
            WITH RECURSIVE heads AS (
                (SELECT priority, project FROM jobs WHERE \(queued) ORDER BY priority, project LIMIT 1)
                UNION ALL
                SELECT next.priority, next.project FROM heads h CROSS JOIN LATERAL (
                    SELECT priority, project FROM jobs WHERE \(queued) AND (priority, project) > (h.priority, h.project)
                    ORDER BY priority, project LIMIT 1) next
            )
            """)

    /// A job that waits to be claimed.
    static let queued = "phase = 'queued' AND status = 'running' AND node IS NULL"

    private static func nextQueueSQL(heads: String) -> String {
        """
        \(heads), claimed AS (
            SELECT project, count(*) AS n FROM jobs WHERE status = 'running' AND node IS NOT NULL
            AND project IN (SELECT name FROM projects WHERE max_running IS NOT NULL) GROUP BY project
        )
        SELECT h.priority, h.project FROM heads h
        LEFT JOIN projects p ON p.name = h.project
        LEFT JOIN claimed c ON c.project = h.project
        LEFT JOIN project_turns t ON t.project = h.project
        WHERE p.max_running IS NULL OR COALESCE(c.n, 0) < p.max_running
        ORDER BY h.priority DESC, COALESCE(t.turn, 0), h.project LIMIT 1
        """
    }

    /// SQL that gives `project` (?) the next turn.
    public static let takeTurnSQL = takeTurn("VALUES (?, \(nextTurn))")

    /// SQL that gives the `project` of each row of `table` (a claim's) the next turn.
    public static func takeTurnSQL(from table: String) -> String {
        takeTurn("SELECT project, \(nextTurn) FROM \(table)")
    }

    private static let nextTurn = "(SELECT COALESCE(max(turn), 0) + 1 FROM project_turns)"

    private static func takeTurn(_ rows: String) -> String {
        """
        INSERT INTO project_turns (project, turn)
        \(rows)
        ON CONFLICT (project) DO UPDATE SET turn = excluded.turn
        """
    }
}
