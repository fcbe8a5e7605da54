package demo

import (
	"fmt"
	"time"

	"github.com/charta/charta/ledger"
)

// poolSteps add a shared GPU pool and a metered grant to the story.
func poolSteps(propose proposeFunc, end time.Time) []step {
	now := time.Now().UTC()
	period := ledger.PeriodKey(ledger.PeriodMonth, now)
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	return []step{
		{"GPU pool gpu-pool contributed by gamma: 1000 gpu-hours a month, quotas alpha 400, beta 300, gamma 300", func() error {
			if err := propose("gamma", "pool.create", ledger.PoolCreate{
				ID: "gpu-pool", Resource: "gpu", Unit: "gpu-hour", Period: ledger.PeriodMonth, Capacity: 1000, Mode: "fixed",
				Quotas: []ledger.QuotaSpec{{Member: "alpha", Amount: 400}, {Member: "beta", Amount: 300}, {Member: "gamma", Amount: 300}},
				Owners: []string{"gamma"},
			}); err != nil {
				return err
			}
			for _, c := range []struct {
				m string
				n int64
			}{{"alpha", 120}, {"beta", 280}, {"alpha", 35}} {
				if err := propose(c.m, "pool.consume", ledger.PoolConsume{Pool: "gpu-pool", Amount: c.n, Ref: fmt.Sprintf("job-%s-%d", c.m, c.n)}); err != nil {
					return err
				}
			}
			return propose("gamma", "pool.transfer", ledger.PoolTransfer{Pool: "gpu-pool", To: "beta", Amount: 50})
		}},
		{"metered grant g-inference: beta runs inference on gamma-h100, tiered per GPU-hour with an SLA credit and a soft cap", func() error {
			below := int64(9990)
			if err := propose("gamma", "grant.offer", ledger.GrantOffer{
				ID: "g-inference", Licensors: []string{"gamma"}, Licensees: []string{"beta"},
				Terms: ledger.Terms{
					Assets: []string{"gamma-h100"}, Rights: []ledger.Right{"use", "host"},
					Constraints: ledger.Constraints{NotAfter: &end, Territory: ledger.Territory{Allow: []string{"EU"}}},
					Duties:      []ledger.Duty{{Kind: ledger.DutyReportUsage, Metric: "gpu_hours", Period: ledger.PeriodMonth, DueDays: 10}},
					Usage: &ledger.UsageTerms{
						Period: ledger.PeriodMonth, GraceDays: 10,
						Metrics: []ledger.UsageMetric{{
							Name: "gpu_hours", Unit: "hour", SoftCap: 500, HardCap: 2000,
							Pricing: ledger.Pricing{Model: "graduated", Currency: "EUR", Tiers: []ledger.Tier{
								{UpTo: 100, UnitMicros: 2_500_000}, {UpTo: 1000, UnitMicros: 2_000_000}, {UnitMicros: 1_500_000},
							}},
						}},
						MinCommitment: &ledger.Money{Micros: 100_000_000, Currency: "EUR"},
						SLAReporter:   "gamma",
						SLACredits:    []ledger.SLACredit{{Metric: "availability_bp", Below: below, DiscountBP: 1000}},
					},
				},
			}); err != nil {
				return err
			}
			if err := propose("beta", "grant.accept", ledger.GrantRef{Grant: "g-inference"}); err != nil {
				return err
			}
			for i, q := range []int64{240, 310} {
				// The window starts after the acceptance and stays in the period.
				from := time.Now().UTC().Truncate(time.Millisecond)
				to := from.Add(time.Hour)
				if to.After(next) {
					to = next
				}
				if err := propose("beta", "usage.report", ledger.UsageReportBody{
					Grant: "g-inference", ReportID: fmt.Sprintf("demo-%s-%d", period, i+1), Period: period,
					Window:  ledger.Window{Start: from, End: to},
					Metrics: []ledger.MetricQuantity{{Metric: "gpu_hours", Quantity: q}},
				}); err != nil {
					return err
				}
			}
			return propose("gamma", "sla.report", ledger.SLAReportBody{
				Grant: "g-inference", ReportID: "demo-sla-" + period, Period: period,
				Measurements: []ledger.SLAMeasurement{{Metric: "availability_bp", Value: 9950}},
			})
		}},
	}
}
