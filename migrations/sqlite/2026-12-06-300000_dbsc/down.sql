DROP TABLE dbsc_challenges;
ALTER TABLE sessions DROP COLUMN dbsc_bound_at;
ALTER TABLE sessions DROP COLUMN dbsc_key;
