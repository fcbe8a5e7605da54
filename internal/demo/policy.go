package demo

import "github.com/charta/charta/ledger"

// ExamplePolicy is the export-control policy the demo genesis ships: a
// small example of the charter's table, not legal advice. Encryption
// software (5D002) and unlisted items (EAR99) may not be used in Cuba,
// Iran, North Korea or Syria.
func ExamplePolicy() []ledger.ExportRule {
	return []ledger.ExportRule{
		{Classification: "5D002", Deny: []string{"CU", "IR", "KP", "SY"}, Note: "example only, not legal advice: embargoed destinations"},
		{Classification: "EAR99", Deny: []string{"CU", "IR", "KP", "SY"}, Note: "example only, not legal advice: embargoed destinations"},
	}
}
