//go:build !failpoints

package ledger

// failpoint is a crash point for tests; see failpoint.go. Production builds
// compile it away.
func failpoint(string) {}
