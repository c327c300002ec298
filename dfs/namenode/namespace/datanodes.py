"""What the namespace keeps of the datanodes across restarts: the ones the cluster had, and their maintenance
windows. Mixed into ``RelationalNamespace``."""


class Datanodes:
    """The ``datanodes`` and ``maintenance`` tables."""

    def known_datanodes(self):
        return self.read(lambda db: dict(db.execute("SELECT id, url FROM datanodes")))

    def remember_datanode(self, node_id, url):
        return self.run(lambda db: db.execute(
            "INSERT INTO datanodes (id, url) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET url = excluded.url",
            (node_id, url)))

    def forget_datanode(self, node_id):
        return self.run(lambda db: db.execute("DELETE FROM datanodes WHERE id = ?", (node_id,)))

    def maintenance_windows(self):
        return self.read(lambda db: dict(db.execute("SELECT node_id, until FROM maintenance")))

    def set_maintenance(self, node_id, until):
        if until is None:
            return self.run(lambda db: db.execute("DELETE FROM maintenance WHERE node_id = ?", (node_id,)))
        return self.run(lambda db: db.execute(
            "INSERT INTO maintenance (node_id, until) VALUES (?, ?) ON CONFLICT (node_id) DO UPDATE"
            " SET until = excluded.until", (node_id, until)))
