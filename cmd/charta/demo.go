package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/charta/charta/internal/devnet"
)

// seedDemo seeds the demo consortium's story (package demo) into c, once
// per directory, and says what to try.
func seedDemo(ctx context.Context, c *devnet.Cluster, out io.Writer) error {
	if _, err := os.Stat(c.Path("demo.done")); err == nil {
		return nil
	}
	fmt.Fprintln(out, "seeding the demo consortium...")
	if err := c.Seed(ctx, out); err != nil {
		return fmt.Errorf("demo: %w", explain(err))
	}
	fmt.Fprintln(out, `  try: charta check --member beta --asset atlas-7b --action train --territory DE --purpose healthcare
       charta check --member beta --asset atlas-7b --action train --territory US --purpose research
       charta check --member beta --asset atlas-7b --action train --territory DE --purpose military
       charta check --member gamma --asset alpha-corpus --action distribute --territory DE   # data terms
       charta check --member gamma --asset alpha-corpus --action train --territory KP        # export control
       charta pool usage gpu-pool
       charta statement show g-inference
       charta check --member gamma --asset atlas-tokenizer --action distribute    (an open Apache-2.0 licence)
       charta check --member gamma --asset atlas-7b --action commercialize        (waits for the fairness audit)
       charta infraction list --kind duty_overdue   (gamma's fairness audit, overdue about 10 s after seeding)
       charta infraction list`)
	return os.WriteFile(c.Path("demo.done"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}
