-- A pack is registered (state uploading, owner = the writer's manifest ID
-- or the collector's lease) before its object is written, so GC can tell
-- an upload in progress from the leftover of a crashed one.
ALTER TABLE vs_packs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
