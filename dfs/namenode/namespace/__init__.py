"""The namespace: one interface (``interface.Namespace``), one typed model (``model``), and the backends that keep
it. Nothing outside this package touches a database."""
