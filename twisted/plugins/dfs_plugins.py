"""twistd plugins: `twistd -n dfs-namenode` and `twistd -n dfs-datanode`."""

from twisted.application.service import ServiceMaker

dfs_namenode = ServiceMaker("dfs namenode", "dfs.namenode.tap", "The dfs namenode: namespace, WebHDFS, placement, repair.", "dfs-namenode")
dfs_datanode = ServiceMaker("dfs datanode", "dfs.datanode.tap", "The dfs datanode: stores and serves blocks.", "dfs-datanode")
