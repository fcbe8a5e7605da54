package devnet

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestModelServer_CompletesAndReportsTokens(t *testing.T) {
	m := &ModelServer{Name: "atlas-7b-chat"}
	if err := m.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	req, _ := http.NewRequest(http.MethodPost, m.URL()+"/v1/completions", strings.NewReader(`{"prompt":"the quick brown fox"}`))
	req.Header.Set("Charta-Member", "beta")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got completionResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get(TokensHeader) != "8" {
		t.Fatalf("status %d, %s %q", resp.StatusCode, TokensHeader, resp.Header.Get(TokensHeader))
	}
	want := completionResponse{Model: "atlas-7b-chat", Completion: "fox brown quick the", Tokens: 8, Member: "beta"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	resp, err = http.Post(m.URL()+"/v1/completions", "application/json", strings.NewReader(`{"prompt":"  "}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("empty prompt: status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
