package ledger

import (
	"fmt"
	"strconv"
	"time"
)

// Periods are calendar periods in UTC, named by a key that sorts in time
// order among keys of the same kind:
//
//	day      2026-01-05   [00:00 that day, 00:00 the next)
//	week     2026-W02     ISO 8601 week: Monday 00:00 to the next Monday
//	month    2026-01
//	quarter  2026-Q1      January-March, April-June, July-September, October-December
//	year     2026
//
// Years run from 1970 to 9999.

// PeriodKey returns the key of the period of kind p that contains t.
func PeriodKey(p Period, t time.Time) string {
	start, _ := PeriodBounds(p, t)
	switch p {
	case PeriodDay:
		return start.Format("2006-01-02")
	case PeriodWeek:
		y, w := start.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	case PeriodMonth:
		return start.Format("2006-01")
	case PeriodQuarter:
		return fmt.Sprintf("%04d-Q%d", start.Year(), (int(start.Month())-1)/3+1)
	case PeriodYear:
		return fmt.Sprintf("%04d", start.Year())
	}
	return ""
}

// PeriodBounds returns the start (inclusive) and end (exclusive) of the
// period of kind p that contains t.
func PeriodBounds(p Period, t time.Time) (start, end time.Time) {
	t = t.UTC()
	y, m, d := t.Date()
	switch p {
	case PeriodDay:
		start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case PeriodWeek:
		wd := (int(t.Weekday()) + 6) % 7 // Monday = 0
		start = time.Date(y, m, d-wd, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 7)
	case PeriodMonth:
		start = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	case PeriodQuarter:
		start = time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 3, 0)
	case PeriodYear:
		start = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(1, 0, 0)
	}
	return time.Time{}, time.Time{}
}

// ParsePeriod returns the bounds of the period of kind p named by key. Only
// the canonical spelling that PeriodKey produces is accepted.
func ParsePeriod(p Period, k string) (start, end time.Time, err error) {
	bad := func() (time.Time, time.Time, error) {
		return time.Time{}, time.Time{}, Errorf(CodeInvalid, "%q is not a %s period (want e.g. %s)", k, p, PeriodKey(p, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)))
	}
	if !p.valid() || len(k) < 4 {
		return bad()
	}
	year, err := strconv.Atoi(k[:4])
	if err != nil || year < 1970 {
		return bad()
	}
	var t time.Time
	switch p {
	case PeriodDay:
		t, err = time.Parse("2006-01-02", k)
	case PeriodWeek:
		if len(k) != 8 || k[4:6] != "-W" {
			return bad()
		}
		w, err2 := strconv.Atoi(k[6:])
		if err2 != nil || w < 1 || w > 53 {
			return bad()
		}
		// 4 January is always in ISO week 1.
		jan4 := time.Date(year, 1, 4, 0, 0, 0, 0, time.UTC)
		wk1, _ := PeriodBounds(PeriodWeek, jan4)
		t = wk1.AddDate(0, 0, 7*(w-1))
	case PeriodMonth:
		t, err = time.Parse("2006-01", k)
	case PeriodQuarter:
		if len(k) != 7 || k[4:6] != "-Q" || k[6] < '1' || k[6] > '4' {
			return bad()
		}
		t = time.Date(year, time.Month(3*int(k[6]-'1')+1), 1, 0, 0, 0, 0, time.UTC)
	case PeriodYear:
		t, err = time.Parse("2006", k)
	}
	if err != nil || PeriodKey(p, t) != k {
		return bad()
	}
	start, end = PeriodBounds(p, t)
	return start, end, nil
}
