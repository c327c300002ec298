"""dfs: a distributed file system on Twisted with a WebHDFS API."""
