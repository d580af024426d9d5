package vaultstore

// Meta returns the metadata the writer stored, encrypted, in the
// recovery point's manifest (the backup domain keeps restore secrets
// there).
func (r *Reader) Meta() map[string]string { return r.f.m.Meta }
