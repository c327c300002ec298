"""One verdict for the whole cluster, the worst thing that is true of it, for the status page and `dfs status`."""


def verdict(nodes, totals, safemode):
    """(state, sentence): corrupt (the namespace tree), safe_mode, missing, dead, degraded or healthy, and what
    makes it so.

    Each sentence says only what the counters show: "repair under way" only while copies are in flight, a dead
    datanode whose blocks all have their replicas elsewhere is named as dead, not as work in progress.
    """
    if totals.get("unreachable_inodes"):
        return "corrupt", f"{totals['unreachable_inodes']} inodes no path reaches: run dfs fsck"
    if safemode["on"]:
        return "safe_mode", f"writes wait: {safemode['reason']}"
    unreadable = totals.get("missing", 0) + totals.get("corrupt", 0)
    if unreadable:
        return "missing", f"{unreadable} blocks unreadable (dfs fsck lists the files)"
    states = [n["state"] for n in nodes]
    if "alive" not in states and "decommissioning" not in states:
        return "dead", "no datanode is alive"
    problems = []
    under, copying = totals.get("under_replicated", 0), totals.get("copies_in_flight", 0)
    if under:
        problems.append(f"{under} blocks under-replicated" + (f", repair under way ({copying} copies in flight)"
                                                             if copying else ""))
    for state in ("stale", "dead"):
        if states.count(state):
            problems.append(f"{states.count(state)} datanode(s) {state}")
    problems += [f"decommission of {n['id']} {n['decommission_blocked']}" for n in nodes
                 if n["state"] == "decommissioning" and n.get("decommission_blocked")]
    problems += [f"datanode {n['id']} runs without {n['failed_volumes']} failed data director(ies)" for n in nodes
                 if n.get("failed_volumes") and n["state"] != "dead"]
    if problems:
        return "degraded", "; ".join(problems)
    return "healthy", ""
