# One image for both dfs roles. The command picks the role:
#   docker run IMAGE                 -> namenode (twistd dfs-namenode)
#   docker run IMAGE dfs-datanode    -> datanode
# Both are configured by DFS_* environment variables; state lives under the /data volume.
ARG BASE=python:3.11-slim

# Dependencies (with the postgres extra: a namenode may keep the namespace in PostgreSQL, DFS_DB_URL) and build
# requirements, read from pyproject.toml: this layer survives code changes.
FROM ${BASE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml /tmp/dfs/pyproject.toml
RUN python3 -m venv /opt/dfs \
 && python3 -c "import tomllib; p = tomllib.load(open('/tmp/dfs/pyproject.toml', 'rb')); \
print('\n'.join(p['project']['dependencies'] + p['project']['optional-dependencies']['postgres'] \
+ p['build-system']['requires']))" > /tmp/dfs/requirements.txt \
 && /opt/dfs/bin/pip install -r /tmp/dfs/requirements.txt \
 && rm -rf /tmp/dfs

# The project as a wheel (it carries the twistd plugin file, twisted/plugins/dfs_plugins.py).
FROM deps AS build
WORKDIR /src
COPY . ./
RUN /opt/dfs/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist .

FROM deps
RUN groupadd --gid 10001 dfs \
 && useradd --uid 10001 --gid dfs --home-dir /data --no-create-home --shell /usr/sbin/nologin dfs \
 && mkdir -p /data \
 && chown dfs:dfs /data
COPY --from=build /dist /tmp/dist
# Install, and write Twisted's plugin cache now: at run time the non-root user could not, and every start would
# rescan. Then check that both roles are found.
RUN /opt/dfs/bin/pip install --no-deps /tmp/dist/*.whl \
 && rm -rf /tmp/dist \
 && /opt/dfs/bin/python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))" \
 && /opt/dfs/bin/twistd --help | grep -q dfs-namenode \
 && /opt/dfs/bin/twistd --help | grep -q dfs-datanode
ENV PATH=/opt/dfs/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DFS_HOST=0.0.0.0 \
    DFS_DB_PATH=/data/namenode.sqlite3 \
    DFS_FS_ROOT=/data/datanode
USER dfs
WORKDIR /data
VOLUME /data
EXPOSE 8180 8181
# The role's port is DFS_PORT when set, else 8180 (namenode) or 8181 (datanode): try what applies.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, sys, urllib.request as u\nports = [os.environ['DFS_PORT']] if os.environ.get('DFS_PORT') else ['8180', '8181']\nfor port in ports:\n    try:\n        u.urlopen(f'http://127.0.0.1:{port}/health', timeout=4).read()\n        sys.exit(0)\n    except OSError:\n        pass\nsys.exit(1)"]
# The role is the command (dfs-namenode, dfs-datanode) or, with none, DFS_NODE_CLASS (default namenode).
ENTRYPOINT ["python3", "-m", "dfs.node"]
CMD []
