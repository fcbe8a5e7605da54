//go:build failpoints

package ledger

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Failpoints exist only in binaries built with -tags failpoints, for crash
// tests: CHARTA_FAILPOINTS="apply-before-commit@15" makes the process exit
// (status 86) the 15th time Apply reaches that point. The points are
// apply-before-commit (the batch is written but its bbolt transaction not
// committed), apply-after-commit (committed, but the new applied index not
// yet published) and snapshot-mid-persist (the snapshot's data streamed,
// its checksum not).
//
// The counters are process-wide state that no production build contains.
var failpoints struct {
	once  sync.Once
	at    map[string]int64
	count sync.Map // name → *atomic.Int64
}

func failpoint(name string) {
	failpoints.once.Do(func() {
		failpoints.at = map[string]int64{}
		for _, spec := range strings.Split(os.Getenv("CHARTA_FAILPOINTS"), ",") {
			n, at, ok := strings.Cut(strings.TrimSpace(spec), "@")
			if k, err := strconv.ParseInt(at, 10, 64); ok && err == nil {
				failpoints.at[n] = k
			}
		}
	})
	want, ok := failpoints.at[name]
	if !ok {
		return
	}
	c, _ := failpoints.count.LoadOrStore(name, new(atomic.Int64))
	if c.(*atomic.Int64).Add(1) == want {
		fmt.Fprintf(os.Stderr, "failpoint %s reached (hit %d): exiting\n", name, want)
		os.Exit(86)
	}
}
