-- Extended attributes (WebHDFS SETXATTR, GETXATTRS): keyed by inode, so every name of a hard-linked file shares
-- them; the name carries its namespace prefix ("user.color"), the value is raw bytes.
CREATE TABLE xattrs (
    inode BIGINT NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (inode, name)
);
