package ledger

import "strings"

// countries is ISO 3166-1 alpha-2: the 249 officially assigned codes, sorted.
var countries = [...]string{
	"AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD", "BE",
	"BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD",
	"CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM",
	"DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
	"GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU",
	"ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN",
	"KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME",
	"MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
	"NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
	"PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI",
	"SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK",
	"TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
	"VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
}

// regions are names that stand for a fixed set of countries in territory
// lists. They are expanded when a list is evaluated, never rewritten in the
// signed terms.
var regions = map[string][]string{
	"EU":  {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"},
	"EEA": {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK"},
}

// countryIndex maps a two-letter code to its position in countries, plus
// one; 0 means not a country. A flat table keeps Check free of map lookups.
var countryIndex = func() (t [26 * 26]uint16) {
	for i, c := range countries {
		t[int(c[0]-'A')*26+int(c[1]-'A')] = uint16(i + 1)
	}
	return t
}()

func countryPos(code string) (int, bool) {
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return 0, false
	}
	p := countryIndex[int(code[0]-'A')*26+int(code[1]-'A')]
	return int(p) - 1, p != 0
}

// ValidTerritory reports whether code is an ISO 3166-1 alpha-2 country or
// one of the regions (EU, EEA).
func ValidTerritory(code string) bool {
	if _, ok := countryPos(code); ok {
		return true
	}
	_, ok := regions[code]
	return ok
}

// territorySet is a set of countries, one bit per entry of countries.
type territorySet [4]uint64

func (s *territorySet) add(code string) {
	if p, ok := countryPos(code); ok {
		s[p/64] |= 1 << (p % 64)
		return
	}
	r := regionSets[code]
	for i := range s {
		s[i] |= r[i]
	}
}

// regionSets are the regions as sets, so that a region in a territory list
// costs Check one lookup rather than one per country.
var regionSets = func() map[string]territorySet {
	m := make(map[string]territorySet, len(regions))
	for name, codes := range regions {
		var s territorySet
		for _, c := range codes {
			p, ok := countryPos(c)
			if !ok {
				panic("ledger: region " + name + " lists " + c + ", which is not a country")
			}
			s[p/64] |= 1 << (p % 64)
		}
		m[name] = s
	}
	return m
}()

func (s territorySet) has(code string) bool {
	p, ok := countryPos(code)
	return ok && s[p/64]&(1<<(p%64)) != 0
}

func (s territorySet) and(o territorySet) (r territorySet) {
	for i := range s {
		r[i] = s[i] & o[i]
	}
	return r
}

func (s territorySet) subsetOf(o territorySet) bool {
	for i := range s {
		if s[i]&^o[i] != 0 {
			return false
		}
	}
	return true
}

func (s territorySet) empty() bool { return s == territorySet{} }

// codes lists the set's countries in order, for messages.
func (s territorySet) codes() []string {
	var out []string
	for i, c := range countries {
		if s[i/64]&(1<<(i%64)) != 0 {
			out = append(out, c)
		}
	}
	return out
}

var world = func() (s territorySet) {
	for _, c := range countries {
		s.add(c)
	}
	return s
}()

// Territory restricts where a grant may be exercised. An empty Allow list
// means worldwide; Deny is subtracted from it.
type Territory struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// set is the countries the territory covers.
func (t Territory) set() territorySet {
	s := world
	if len(t.Allow) > 0 {
		s = territorySet{}
		for _, c := range t.Allow {
			s.add(c)
		}
	}
	var deny territorySet
	for _, c := range t.Deny {
		deny.add(c)
	}
	for i := range s {
		s[i] &^= deny[i]
	}
	return s
}

// String describes the territory in words, for decisions and errors.
func (t Territory) String() string {
	switch {
	case len(t.Allow) == 0 && len(t.Deny) == 0:
		return "worldwide"
	case len(t.Allow) == 0:
		return "worldwide except " + strings.Join(t.Deny, ", ")
	case len(t.Deny) == 0:
		return strings.Join(t.Allow, ", ")
	}
	return strings.Join(t.Allow, ", ") + " except " + strings.Join(t.Deny, ", ")
}
