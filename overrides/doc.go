// Package overrides persists manual drains set through the admin API in a
// small embedded bbolt database under vigil's state_dir, so they survive a
// restart. Each write is synced to disk before it returns; expired entries
// are dropped when listed. The file is opened, checked and recovered by
// internal/statedb.
package overrides
