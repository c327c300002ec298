-- POSIX ACLs (WebHDFS SETACL, GETACLSTATUS ...), kept as HDFS keeps them: the mode holds the owner, mask (or owning
-- group) and other entries, this column the rest (dfs.namenode.acls: named users, the owning group and named groups
-- of an extended access ACL, then the default entries, as "user:bob:rw-,group::r-x,default:user::rwx"). NULL: the
-- mode is the whole ACL. On the inode row, so every path walk and listing reads it with the mode it completes.
ALTER TABLE inodes ADD COLUMN acl TEXT;

-- The quota by storage type DISK (WebHDFS SETQUOTABYSTORAGETYPE): every dfs block is on DISK, so it limits what the
-- space quota does, bytes of the directory's files with every replica; -1 is none. (In this file to keep this
-- branch's one schema version.)
ALTER TABLE quotas ADD COLUMN disk BIGINT NOT NULL DEFAULT -1;
