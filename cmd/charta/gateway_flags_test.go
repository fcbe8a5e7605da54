package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestGatewayFlags_BadDurationInTheEnvironment: a malformed duration in a
// CHARTA_GATEWAY_* variable is an error on one line, not a silent default,
// unless the flag it stands for is given.
func TestGatewayFlags_BadDurationInTheEnvironment(t *testing.T) {
	t.Setenv("CHARTA_GATEWAY_DECISION_TTL", "soon")
	args := []string{"gateway", "--node", "http://127.0.0.1:1", "--state", t.TempDir(), "--config", "/nonexistent/gateway.json", "--token", "t"}
	var out, errs bytes.Buffer
	if code := run(context.Background(), args, &out, &errs); code != 2 || !strings.HasPrefix(errs.String(), `charta gateway: CHARTA_GATEWAY_DECISION_TTL: "soon" is not a positive duration`) {
		t.Fatalf("exit %d, stderr:\n%s", code, errs.String())
	}
	errs.Reset()
	code := run(context.Background(), append(args, "--decision-ttl", "1s"), &out, &errs)
	if code != 1 || strings.Contains(errs.String(), "DECISION_TTL") || !strings.Contains(errs.String(), "gateway.json") {
		t.Fatalf("with the flag given: exit %d, stderr:\n%s", code, errs.String())
	}
}
