-- What a blocked edit asked for, kept in full (JSON: {complete, fields: [{path, value}]}) so
-- the Git change that makes it legitimate can be made from the record. NULL in records written
-- before this column existed. Keep in step with migrations/sqlite.
ALTER TABLE driftgate_audit ADD COLUMN changes TEXT;
