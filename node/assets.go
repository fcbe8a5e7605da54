package node

import (
	"net/http"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

func (s *Server) registerAssetRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/assets", "handleAssetList", read, s.handleAssetList)
	s.handle(r, http.MethodGet, "/v1/assets/{id}", "handleAssetGet", read, s.handleAssetGet)
	s.handle(r, http.MethodGet, "/v1/assets/{id}/lineage", "handleAssetLineage", read, s.handleAssetLineage)
}

// handleAssetList lists assets; every member may see them.
func (s *Server) handleAssetList(w http.ResponseWriter, r *http.Request) {
	cursor, limit, err := page(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var out api.List[*ledger.Asset]
	s.view(w, func(v *ledger.View) error {
		as, next := v.Assets(cursor, limit)
		out = newList(as, next)
		return nil
	})
	s.writeJSON(w, r, http.StatusOK, out)
}

// handleAssetGet returns one asset.
func (s *Server) handleAssetGet(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	var a *ledger.Asset
	err := s.view(w, func(v *ledger.View) error {
		var ok bool
		if a, ok = v.Asset(id); !ok {
			return notFound("asset", id)
		}
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, a)
}

// maxLineage bounds how many assets a lineage answer holds.
const maxLineage = 1000

// handleAssetLineage walks an asset's ancestors through its parents and its
// descendants through every asset that names it as a parent.
func (s *Server) handleAssetLineage(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	var out api.Lineage
	err := s.view(w, func(v *ledger.View) error {
		a, ok := v.Asset(id)
		if !ok {
			return notFound("asset", id)
		}
		out.Asset = a
		out.Ancestors, out.Descendants = []*ledger.Asset{}, []*ledger.Asset{}
		seen := map[string]bool{id: true}
		queue := []*ledger.Asset{a}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			for _, p := range cur.Parents {
				if seen[p.Asset] {
					continue
				}
				seen[p.Asset] = true
				if pa, ok := v.Asset(p.Asset); ok {
					if len(out.Ancestors) == maxLineage {
						out.Truncated = true
						break
					}
					out.Ancestors = append(out.Ancestors, pa)
					queue = append(queue, pa)
				}
			}
		}
		// Children are not indexed by parent: build the reverse edges
		// from one pass over the assets.
		children := map[string][]*ledger.Asset{}
		for after := ""; ; {
			as, next := v.Assets(after, 1000)
			for _, x := range as {
				for _, p := range x.Parents {
					children[p.Asset] = append(children[p.Asset], x)
				}
			}
			if next == "" {
				break
			}
			after = next
		}
		seen = map[string]bool{id: true}
		queue = []*ledger.Asset{a}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			for _, c := range children[cur.ID] {
				if seen[c.ID] {
					continue
				}
				seen[c.ID] = true
				if len(out.Descendants) == maxLineage {
					out.Truncated = true
					break
				}
				out.Descendants = append(out.Descendants, c)
				queue = append(queue, c)
			}
		}
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
