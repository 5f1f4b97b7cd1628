-- The invite service's own tables start in the next migration.
SELECT 1;
