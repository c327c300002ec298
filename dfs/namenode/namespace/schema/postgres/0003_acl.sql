-- POSIX ACLs (WebHDFS SETACL, GETACLSTATUS ...), kept as HDFS keeps them: the mode holds the owner, mask (or owning
-- group) and other entries, this column the rest (dfs.namenode.acls: named users, the owning group and named groups
-- of an extended access ACL, then the default entries, as "user:bob:rw-,group::r-x,default:user::rwx"). NULL: the
-- mode is the whole ACL. On the inode row, so every path walk and listing reads it with the mode it completes.
ALTER TABLE inodes ADD COLUMN acl TEXT;
