-- Extended attributes (WebHDFS SETXATTR, GETXATTRS): keyed by inode, so every name of a hard-linked file shares
-- them; the name carries its namespace prefix ("user.color"), the value is raw bytes.
CREATE TABLE xattrs (
    inode BIGINT NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (inode, name)
);

-- Quotas of directories (WebHDFS SETQUOTA, `dfs quota`): names at or below the directory (itself counted) and bytes
-- of its files with every replica; -1 is no quota. A directory without a row has neither.
CREATE TABLE quotas (
    inode BIGINT PRIMARY KEY,
    names BIGINT NOT NULL DEFAULT -1,
    space BIGINT NOT NULL DEFAULT -1
);
