package node

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

// TestOpenAPI_MatchesRoutes keeps openapi.json equal to the routes: every
// route is documented under its method with its handler's name as
// operationId, and every documented operation is served.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	documented := map[string]string{} // "GET /path" → operationId
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				OperationID string `json:"operationId"`
				Parameters  []struct {
					Name string `json:"name"`
					In   string `json:"in"`
				} `json:"parameters"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			documented[strings.ToUpper(method)+" "+path] = op.OperationID
			for _, seg := range strings.Split(path, "/") {
				if strings.HasPrefix(seg, "{") {
					name := strings.Trim(seg, "{}")
					if !slices.ContainsFunc(op.Parameters, func(p struct {
						Name string `json:"name"`
						In   string `json:"in"`
					}) bool {
						return p.Name == name && p.In == "path"
					}) {
						t.Errorf("%s %s: path parameter %s is not declared", method, path, name)
					}
				}
			}
		}
	}
	ts := newTestServer(t)
	served := map[string]bool{}
	err := ts.s.Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s has no methods", path)
			return nil
		}
		for _, m := range methods {
			key := m + " " + path
			served[key] = true
			op, ok := documented[key]
			switch {
			case !ok:
				t.Errorf("%s is served but not in openapi.json", key)
			case op != route.GetName():
				t.Errorf("%s: operationId %q, handler %q", key, op, route.GetName())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("%s is in openapi.json but not served", key)
		}
	}
	r := ts.get("/v1/openapi.json", "")
	if r.status != http.StatusOK || string(r.body) != string(openAPI) {
		t.Errorf("/v1/openapi.json: %d", r.status)
	}
}

// TestOpenAPI_ProblemCodes: the document lists exactly the problem codes of
// package api.
func TestOpenAPI_ProblemCodes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				} `json:"Problem"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(doc.Components.Schemas.Problem.Properties.Code.Enum))
	var want []string
	for _, c := range api.Codes() {
		want = append(want, string(c))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("openapi.json lists problem codes %v; package api has %v", got, want)
	}
}
