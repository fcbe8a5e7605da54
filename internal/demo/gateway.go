package demo

import (
	"time"

	"github.com/charta/charta/ledger"
)

// The demo's gateway guards alpha's atlas-chat endpoint: beta may call it,
// metered into chat-pool and into g-chat-beta's usage; gamma may not.
const (
	ChatAsset = "atlas-chat"
	ChatPool  = "chat-pool"
	ChatGrant = "g-chat-beta"
	// ChatMetric is the usage metric the gateway reports, the tokens the
	// endpoint says each call used.
	ChatMetric = "tokens"
)

// gatewaySteps add the resource that `charta dev --demo` puts behind a
// gateway: an inference endpoint, a pool of calls and a metered grant.
func gatewaySteps(propose proposeFunc, end time.Time) []step {
	return []step{
		{"gateway: alpha serves atlas-chat behind charta gateway; beta may call it in the EU for research, 2000 calls a month from chat-pool, metered in tokens; gamma may not", func() error {
			if err := propose("alpha", "asset.register", ledger.AssetRegister{
				ID: ChatAsset, Kind: ledger.AssetModel, Name: "Atlas 7B chat endpoint", Digest: digestOf(ChatAsset),
				Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}, SPDX: "LicenseRef-charta-demo",
			}); err != nil {
				return err
			}
			if err := propose("alpha", "pool.create", ledger.PoolCreate{
				ID: ChatPool, Resource: ChatAsset, Unit: "call", Period: ledger.PeriodMonth, Capacity: 10000, Mode: "fixed",
				Quotas: []ledger.QuotaSpec{{Member: "alpha", Amount: 8000}, {Member: "beta", Amount: 2000}},
				Owners: []string{"alpha"},
			}); err != nil {
				return err
			}
			if err := propose("alpha", "grant.offer", ledger.GrantOffer{
				ID: ChatGrant, Licensors: []string{"alpha"}, Licensees: []string{"beta"},
				Terms: ledger.Terms{
					Assets: []string{ChatAsset}, Rights: []ledger.Right{"use"},
					Constraints: ledger.Constraints{NotAfter: &end, Territory: ledger.Territory{Allow: []string{"EU"}}, Purposes: []string{"research"}},
					Usage: &ledger.UsageTerms{
						Period: ledger.PeriodMonth, GraceDays: 5, Meters: []string{"alpha"},
						Metrics: []ledger.UsageMetric{{
							Name: ChatMetric, Unit: "token", HardCap: 1_000_000,
							Pricing: ledger.Pricing{Model: "graduated", Currency: "EUR", Per: 1000, Tiers: []ledger.Tier{{UnitMicros: 2000}}},
						}},
					},
				},
			}); err != nil {
				return err
			}
			return propose("beta", "grant.accept", ledger.GrantRef{Grant: ChatGrant})
		}},
	}
}
