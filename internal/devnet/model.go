package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// TokensHeader is the response header in which the toy model reports how
// many tokens a request used, as a real inference server would: a
// gateway's route can meter it.
const TokensHeader = "X-Tokens"

// ModelServer is a toy inference endpoint for the demo, the resource that
// the demo's gateway guards: POST /v1/completions with {"prompt": "..."}
// answers with a completion made of the prompt's words, and reports the
// tokens it used (the prompt's and the completion's words) in TokensHeader.
// It holds no state and needs no credentials: the gateway in front of it
// decides who may call it.
type ModelServer struct {
	Name string // the model's name in answers
	srv  *http.Server
	ln   net.Listener
}

type completionRequest struct {
	Prompt string `json:"prompt"`
}

type completionResponse struct {
	Model      string `json:"model"`
	Completion string `json:"completion"`
	Tokens     int    `json:"tokens"`
	Member     string `json:"member,omitempty"` // the caller the gateway vouched for
}

// Listen binds the model server to addr (host:port).
func (m *ModelServer) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	m.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/completions", m.complete)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return nil
}

// URL is the server's base URL once it listens.
func (m *ModelServer) URL() string { return "http://" + m.ln.Addr().String() }

// Serve serves until ctx ends.
func (m *ModelServer) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m.srv.Shutdown(sctx)
	}()
	if err := m.srv.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (m *ModelServer) complete(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || strings.TrimSpace(req.Prompt) == "" {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"type":"about:blank","title":"Bad Request","status":400,"detail":"want a JSON body {\"prompt\": \"...\"}"}`+"\n")
		return
	}
	words := strings.Fields(req.Prompt)
	completion := make([]string, len(words))
	for i, w := range words {
		completion[len(words)-1-i] = w
	}
	resp := completionResponse{Model: m.Name, Completion: strings.Join(completion, " "), Tokens: 2 * len(words),
		Member: r.Header.Get("Charta-Member")}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(TokensHeader, strconv.Itoa(resp.Tokens))
	json.NewEncoder(w).Encode(resp)
}
