package node

import (
	"context"
	"testing"
	"time"

	"github.com/charta/charta/node/api"
)

// TestPrivateStore_ChecksWaitForTheSealedReports checks that a check on a
// party's node waits until the private store has admitted what the node
// applied: it returns as soon as the store catches up, and answers
// unavailable, with a retry, if it does not within privateWait.
func TestPrivateStore_ChecksWaitForTheSealedReports(t *testing.T) {
	p, err := openPrivateStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	p.markSynced(5)
	if err := p.caughtUp(context.Background(), 5); err != nil {
		t.Fatalf("caught up already: %v", err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.caughtUp(context.Background(), 7) }()
	time.Sleep(50 * time.Millisecond)
	p.markSynced(6)
	select {
	case err := <-done:
		t.Fatalf("returned at index 6 of 7: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.markSynced(7)
	if err := <-done; err != nil || time.Since(start) > time.Second {
		t.Fatalf("after catching up: %v after %s", err, time.Since(start))
	}
	err = p.caughtUp(context.Background(), 8)
	if pb := buildProblem(err); pb.Code != api.CodeUnavailable || pb.RetryAfter != 1 {
		t.Fatalf("never caught up: %+v", pb)
	}
}
