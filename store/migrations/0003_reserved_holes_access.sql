-- 0003: a placeholder for the migration the holes-access branch adds with this
-- number, so that 0005 (branch elements) applies on its own. Delete this
-- file when that branch's 0003 is merged: Migrations refuses two files
-- with one number.
SELECT 1;
