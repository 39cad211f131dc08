-- 0004: a placeholder for the migration the ops branch adds with this
-- number, so that 0005 (branch elements) applies without it. Delete this
-- file when that branch's 0004 is merged: Migrations refuses two files
-- with one number.
SELECT 1;
