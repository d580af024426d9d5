-- The attempt of a job that holds it: a worker that takes a job over
-- from a node that stopped (River's rescuer gave it a new attempt)
-- increments it, and every write of a running job is fenced on it, so an
-- attempt that comes back after losing its lease can change nothing.
ALTER TABLE backup_jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
