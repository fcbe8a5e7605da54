package bench

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/charta/charta/node"
)

// noopDecision is the body the no-op handler answers with: about the size
// of a real allowed decision.
var noopDecision = []byte(`{"allowed":true,"reason":"granted","grant":"g-atlas-beta","member":"beta","asset":"atlas-7b","action":"train","at":"2026-01-01T00:00:00Z","index":42}` + "\n")

// NoopHandler is the read-path baseline: a gorilla/mux router with the
// check routes (GET and POST /v1/check) whose handlers only write a fixed
// JSON decision.
func NoopHandler() http.Handler {
	r := mux.NewRouter()
	h := func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(noopDecision)
	}
	r.HandleFunc("/v1/check", h).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/readyz", h).Methods(http.MethodGet)
	return r
}

// ServeNoop serves NoopHandler on ln with the API server's default
// timeouts (node.DefaultServerConfig) until ctx ends.
func ServeNoop(ctx context.Context, ln net.Listener) error {
	c := node.DefaultServerConfig()
	return serveUntil(ctx, &http.Server{
		Handler:           NoopHandler(),
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		ErrorLog:          log.New(io.Discard, "", 0),
	}, ln)
}

// serveUntil serves srv on ln until ctx ends, then lets the requests in
// progress finish, for up to 10 s, before it returns.
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener) error {
	served, shut := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(shut)
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		case <-served:
		}
	}()
	err := srv.Serve(ln)
	close(served)
	<-shut
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
