-- The service whose kms:ViaService the storage engine's KMS calls with a
-- recovery point's key carry: 'rds' when it is the database's own key
-- (an RDS snapshot stays under it), 'backup' when it is the vault's key
-- (an unencrypted database, a copy). '' is a row from before: 'rds'.
ALTER TABLE backup_recovery_points ADD COLUMN key_service TEXT NOT NULL DEFAULT '';
