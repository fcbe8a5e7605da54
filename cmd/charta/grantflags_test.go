package main

import (
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
)

// grantTerms parses grant offer flags into terms.
func grantTerms(t *testing.T, args ...string) (ledger.Terms, error) {
	t.Helper()
	var tf grantTermsFlags
	fs := flag.NewFlagSet("offer", flag.ContinueOnError)
	tf.register(fs)
	if err := fs.Parse(append([]string{"--asset", "ds-1", "--rights", "use"}, args...)); err != nil {
		t.Fatal(err)
	}
	return tf.terms()
}

func TestGrantFlags_Clauses(t *testing.T) {
	terms, err := grantTerms(t, "--exclusivity", "exclusive", "--export-control", "3A090.a", "--data", "may_share=false,may_sell=true,retention_days=365")
	if err != nil {
		t.Fatal(err)
	}
	d := terms.Clauses.Data
	if terms.Exclusivity != ledger.ExclusivityExclusive || terms.Clauses.ExportControl != "3A090.a" || d == nil || d.MayShare || !d.MaySell || d.RetentionDays != 365 {
		t.Fatalf("terms %+v, data %+v", terms, d)
	}
	if terms, err = grantTerms(t, "--exclusive"); err != nil || terms.ExclusivityKind() != ledger.ExclusivitySole {
		t.Fatalf("--exclusive: %v, %s", err, terms.ExclusivityKind())
	}
}

func TestGrantFlags_ClauseErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--exclusivity", "partly"}, `--exclusivity "partly": want exclusive, sole or none`},
		{[]string{"--exclusive", "--exclusivity", "sole"}, "give only --exclusivity"},
		{[]string{"--export-control", "anything goes ~~ not a class"}, "--export-control: \"anything goes ~~ not a class\" is not an export-control classification"},
		{[]string{"--data", "may_share"}, `--data: "may_share" is not key=value`},
		{[]string{"--data", "may_share=maybe"}, "--data: strconv.ParseBool"},
		{[]string{"--data", "retention_days=-1"}, "retention_days -1 is negative"},
		{[]string{"--data", "shelf_life=3"}, `"shelf_life" is not may_share, may_sell or retention_days`},
	} {
		_, err := grantTerms(t, c.args...)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: want a one-line usage error containing %q, got %v", c.args, c.want, err)
		}
	}
}
