package node

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// TestOpenAPI_ResponsesValidate sends requests to a test server and
// validates each response, status, content type and body, against
// node/openapi.json with a third-party validator (pb33f/libopenapi-
// validator): what the document says is what clients get.
func TestOpenAPI_ResponsesValidate(t *testing.T) {
	doc, err := libopenapi.NewDocument(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("the document does not load: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("openapi.json: %s", e.Error())
		}
	}
	ts := newTestServer(t)
	ts.w.accept("alpha", "pool.create", "pool-gpu", ledger.PoolCreate{ID: "gpu", Resource: "gpu-hours", Unit: "hour",
		Period: ledger.PeriodMonth, Capacity: 100, Mode: ledger.QuotaFixed, Owners: []string{"alpha", "beta"},
		Quotas: []ledger.QuotaSpec{{Member: "alpha", Amount: 40}, {Member: "beta", Amount: 40}, {Member: "gamma", Amount: 20}}},
		"beta")
	// Last, so the journal indices the cases name stay put: alpha's
	// members record then shows an encryption key.
	ts.w.accept("alpha", "key.encryption.rotate", "enc-1", ledger.EncryptionKeyRotate{New: ledgertest.EncryptionKey("alpha")})
	for _, c := range []struct {
		method, path, as string
		header           []string
	}{
		{"GET", "/v1/status", "alpha", nil},
		{"GET", "/v1/whoami", "alpha", nil},
		{"GET", "/v1/whoami", "operator", nil},
		{"GET", "/v1/cluster", "alpha", nil},
		{"GET", "/v1/members", "alpha", nil},
		{"GET", "/v1/members/alpha", "alpha", nil},
		{"GET", "/v1/members/zed", "alpha", nil},
		{"GET", "/v1/assets", "alpha", nil},
		{"GET", "/v1/assets/model-b/lineage", "alpha", nil},
		{"GET", "/v1/grants", "beta", nil},
		{"GET", "/v1/grants/g-ab", "beta", nil},
		{"GET", "/v1/grants/g-ab/history", "beta", nil},
		{"GET", "/v1/bundles", "gamma", nil},
		{"GET", "/v1/ballots", "alpha", nil},
		{"GET", "/v1/pools", "alpha", nil},
		{"GET", "/v1/pools/gpu/usage", "alpha", nil},
		{"GET", "/v1/infractions", "alpha", nil},
		{"GET", "/v1/check?member=beta&asset=model-a&action=train", "beta", nil},
		{"GET", "/v1/journal?limit=5", "gamma", nil},
		{"GET", "/v1/journal/8", "gamma", nil}, // withheld from gamma
		{"GET", "/v1/journal?limit=1000", "gamma", nil},
		{"GET", "/v1/journal?limit=1001", "gamma", nil},
		{"GET", "/v1/checkpoint", "gamma", nil},
		{"GET", "/v1/checkpoint", "gamma", []string{"Accept", "text/plain"}},
		{"GET", "/v1/proofs/inclusion?index=2", "gamma", nil},
		{"GET", "/v1/proofs/consistency?from=2&to=5", "gamma", nil},
		{"GET", "/healthz", "", nil},
		{"GET", "/readyz", "", nil},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := ts.do(c.method, c.path, c.as, nil, c.header...)
			req, _ := http.NewRequest(c.method, "http://127.0.0.1:8080"+c.path, nil)
			for i := 0; i+1 < len(c.header); i += 2 {
				req.Header.Set(c.header[i], c.header[i+1])
			}
			resp := &http.Response{StatusCode: r.status, Header: r.header, Body: io.NopCloser(bytes.NewReader(r.body)), Request: req}
			if ok, verrs := v.ValidateHttpResponse(req, resp); !ok {
				var msgs []string
				for _, e := range verrs {
					msgs = append(msgs, e.Error())
					for _, se := range e.SchemaValidationErrors {
						msgs = append(msgs, "  "+se.Reason+" at "+se.FieldPath)
					}
				}
				t.Errorf("%d %s: %s\nbody: %.300s", r.status, r.header.Get("Content-Type"), strings.Join(msgs, "\n"), r.body)
			}
		})
	}
	// What the document does not declare: a method a path lacks is 405
	// with Allow, and a limit over the declared maximum is 400.
	p := ts.do(http.MethodDelete, "/v1/members", "alpha", nil).problem(t, 405, "method_not_allowed")
	if r := ts.do(http.MethodDelete, "/v1/members", "alpha", nil); r.header.Get("Allow") != "GET" {
		t.Errorf("405 without the right Allow: %q (%v)", r.header.Get("Allow"), p)
	}
	ts.get("/v1/journal?limit=5000", "gamma").problem(t, 400, "invalid")
}
