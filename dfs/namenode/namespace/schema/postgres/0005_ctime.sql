-- An inode's change time (POSIX's st_ctime): set whenever the inode changes (data, size, mode, owner, times, links,
-- extended attributes), apart from the mtime, which only data and entries move. Until now the two were one.
ALTER TABLE inodes ADD COLUMN ctime BIGINT NOT NULL DEFAULT 0;
UPDATE inodes SET ctime = mtime;
