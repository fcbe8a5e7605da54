package ledger

// ValidID reports whether s can name a record chosen by a client: a
// proposal, grant, bundle, ballot, asset, pool or report. IDs are 1 to 128
// characters of A-Z a-z 0-9 . _ : - and never contain the zero byte that
// separates the parts of store keys.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// validTag reports whether s can name a metric, unit, resource, purpose or
// industry: 1 to 64 characters of a-z 0-9 - _.
func validTag(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
