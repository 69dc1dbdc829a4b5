package fhirpath

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Precision of a date/time value.
const (
	PrecYear = iota + 1
	PrecMonth
	PrecDay
	PrecHour
	PrecMinute
	PrecSecond
	PrecMillis
)

// DateKind tells Date, DateTime and Time apart.
type DateKind uint8

const (
	KindDate DateKind = iota + 1
	KindDateTime
	KindTime
)

// DateTime is a FHIRPath Date, DateTime or Time with partial precision.
type DateTime struct {
	Kind                         DateKind
	Year, Month, Day             int
	Hour, Minute, Second, Millis int
	Prec                         int  // PrecYear..PrecMillis; for Time starts at PrecHour
	HasTZ                        bool // timezone given
	TZMinutes                    int  // offset east of UTC
	fracDigits                   int  // digits written after the seconds point (kept for output)
}

// parseDateTimeLiteral parses the text of an @ literal (without '@').
func parseDateTimeLiteral(s string) (Item, error) {
	if strings.HasPrefix(s, "T") {
		t, err := parseTime(s[1:])
		if err != nil {
			return Item{}, err
		}
		return sysItem(typeTime, t), nil
	}
	if strings.Contains(s, "T") {
		d, err := parseDateTime(s, true)
		if err != nil {
			return Item{}, err
		}
		return sysItem(typeDateTime, d), nil
	}
	d, err := parseDate(s)
	if err != nil {
		return Item{}, err
	}
	return sysItem(typeDate, d), nil
}

func atoiN(s string, n int) (int, bool) {
	if len(s) != n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

func parseDate(s string) (DateTime, error) {
	d := DateTime{Kind: KindDate}
	if err := d.parseDatePart(s); err != nil {
		return DateTime{}, err
	}
	return d, nil
}

func (d *DateTime) parseDatePart(s string) error {
	parts := strings.Split(s, "-")
	if len(parts) > 3 {
		return fmt.Errorf("invalid date %q", s)
	}
	var ok bool
	if d.Year, ok = atoiN(parts[0], 4); !ok {
		return fmt.Errorf("invalid date %q", s)
	}
	d.Prec = PrecYear
	if len(parts) > 1 {
		if d.Month, ok = atoiN(parts[1], 2); !ok || d.Month < 1 || d.Month > 12 {
			return fmt.Errorf("invalid date %q", s)
		}
		d.Prec = PrecMonth
	}
	if len(parts) > 2 {
		if d.Day, ok = atoiN(parts[2], 2); !ok || d.Day < 1 || d.Day > daysIn(d.Year, d.Month) {
			return fmt.Errorf("invalid date %q", s)
		}
		d.Prec = PrecDay
	}
	return nil
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseDateTime parses yyyy(-mm(-dd(Thh(:mm(:ss(.fff)?)?)?(tz)?)?)?)?. literal allows
// the FHIRPath forms (hour-only, trailing T).
func parseDateTime(s string, literal bool) (DateTime, error) {
	d := DateTime{Kind: KindDateTime}
	datePart, timePart, hasT := strings.Cut(s, "T")
	if err := d.parseDatePart(datePart); err != nil {
		return DateTime{}, err
	}
	if !hasT || timePart == "" {
		return d, nil
	}
	if d.Prec != PrecDay {
		return DateTime{}, fmt.Errorf("invalid dateTime %q", s)
	}
	tz := ""
	if i := strings.IndexAny(timePart, "Z+-"); i >= 0 {
		timePart, tz = timePart[:i], timePart[i:]
	}
	if err := d.parseTimePart(timePart); err != nil {
		return DateTime{}, fmt.Errorf("invalid dateTime %q", s)
	}
	if tz != "" {
		if err := d.parseTZ(tz); err != nil {
			return DateTime{}, fmt.Errorf("invalid dateTime %q", s)
		}
	}
	return d, nil
}

func (d *DateTime) parseTZ(tz string) error {
	d.HasTZ = true
	if tz == "Z" {
		return nil
	}
	if len(tz) != 6 || tz[3] != ':' {
		return fmt.Errorf("invalid timezone")
	}
	h, ok1 := atoiN(tz[1:3], 2)
	m, ok2 := atoiN(tz[4:6], 2)
	if !ok1 || !ok2 || h > 14 || m > 59 {
		return fmt.Errorf("invalid timezone")
	}
	d.TZMinutes = h*60 + m
	if tz[0] == '-' {
		d.TZMinutes = -d.TZMinutes
	}
	return nil
}

func (d *DateTime) parseTimePart(s string) error {
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return fmt.Errorf("invalid time")
	}
	var ok bool
	if d.Hour, ok = atoiN(parts[0], 2); !ok || d.Hour > 23 {
		return fmt.Errorf("invalid time")
	}
	d.Prec = PrecHour
	if len(parts) > 1 {
		if d.Minute, ok = atoiN(parts[1], 2); !ok || d.Minute > 59 {
			return fmt.Errorf("invalid time")
		}
		d.Prec = PrecMinute
	}
	if len(parts) > 2 {
		sec, frac, hasFrac := strings.Cut(parts[2], ".")
		if d.Second, ok = atoiN(sec, 2); !ok || d.Second > 59 {
			return fmt.Errorf("invalid time")
		}
		d.Prec = PrecSecond
		if hasFrac {
			if frac == "" {
				return fmt.Errorf("invalid time")
			}
			ms := frac
			for len(ms) < 3 {
				ms += "0"
			}
			v, err := strconv.Atoi(ms[:3])
			if err != nil || strings.Trim(frac, "0123456789") != "" {
				return fmt.Errorf("invalid time")
			}
			d.Millis = v
			d.Prec = PrecMillis
			d.fracDigits = len(frac)
		}
	}
	return nil
}

func parseTime(s string) (DateTime, error) {
	d := DateTime{Kind: KindTime}
	if err := d.parseTimePart(s); err != nil {
		return DateTime{}, fmt.Errorf("invalid time %q", s)
	}
	return d, nil
}

// String renders the value in FHIR/ISO 8601 form (without '@').
func (d DateTime) String() string {
	var b strings.Builder
	if d.Kind != KindTime {
		fmt.Fprintf(&b, "%04d", d.Year)
		if d.Prec >= PrecMonth {
			fmt.Fprintf(&b, "-%02d", d.Month)
		}
		if d.Prec >= PrecDay {
			fmt.Fprintf(&b, "-%02d", d.Day)
		}
		if d.Kind == KindDate || d.Prec <= PrecDay {
			if d.Kind == KindDateTime && d.Prec == PrecDay && d.HasTZ {
				// a bare date with a zone cannot be written; keep the date
			}
			return b.String()
		}
		b.WriteByte('T')
	}
	fmt.Fprintf(&b, "%02d", d.Hour)
	if d.Prec >= PrecMinute {
		fmt.Fprintf(&b, ":%02d", d.Minute)
	}
	if d.Prec >= PrecSecond {
		fmt.Fprintf(&b, ":%02d", d.Second)
	}
	if d.Prec >= PrecMillis {
		fmt.Fprintf(&b, ".%03d", d.Millis)
	}
	if d.Kind == KindDateTime && d.HasTZ {
		if d.TZMinutes == 0 {
			b.WriteByte('Z')
		} else {
			m := d.TZMinutes
			sign := '+'
			if m < 0 {
				sign, m = '-', -m
			}
			fmt.Fprintf(&b, "%c%02d:%02d", sign, m/60, m%60)
		}
	}
	return b.String()
}

// normalized returns the value shifted to UTC when it carries a zone, as a
// time.Time, for comparisons.
func (d DateTime) toTime() time.Time {
	month, day := d.Month, d.Day
	if month == 0 {
		month = 1
	}
	if day == 0 {
		day = 1
	}
	t := time.Date(d.Year, time.Month(month), day, d.Hour, d.Minute, d.Second, d.Millis*1e6, time.UTC)
	if d.HasTZ {
		t = t.Add(-time.Duration(d.TZMinutes) * time.Minute)
	}
	return t
}

func fromTime(t time.Time, kind DateKind, prec int, hasTZ bool, tz int) DateTime {
	if hasTZ {
		t = t.Add(time.Duration(tz) * time.Minute)
	}
	d := DateTime{Kind: kind, Prec: prec, HasTZ: hasTZ, TZMinutes: tz}
	if kind != KindTime {
		d.Year, d.Month, d.Day = t.Year(), int(t.Month()), t.Day()
	}
	if prec >= PrecHour {
		d.Hour, d.Minute, d.Second, d.Millis = t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e6
	}
	if prec < PrecMonth && kind != KindTime {
		d.Month = 0
	}
	if prec < PrecDay && kind != KindTime {
		d.Day = 0
	}
	return d
}

func (d DateTime) fields() [7]int {
	return [7]int{d.Year, d.Month, d.Day, d.Hour, d.Minute, d.Second, d.Millis}
}

// compareDateTimes compares a and b. ok is false when the result is unknown
// because the values differ in precision and agree up to the coarser one.
func compareDateTimes(a, b DateTime) (cmp int, ok bool) {
	if a.HasTZ != b.HasTZ || (a.HasTZ && a.TZMinutes != b.TZMinutes) {
		// bring both to UTC when zones differ (values without zone are taken as UTC)
		if a.Prec >= PrecHour || b.Prec >= PrecHour {
			a, b = a.utc(), b.utc()
		}
	}
	fa, fb := a.fields(), b.fields()
	pa, pb := a.Prec, b.Prec
	// seconds and milliseconds are one precision
	if pa == PrecMillis {
		pa = PrecSecond
	}
	if pb == PrecMillis {
		pb = PrecSecond
	}
	lo := min(pa, pb)
	start := 0
	if a.Kind == KindTime {
		start = PrecHour - 1
	}
	for i := start; i < lo; i++ {
		f1, f2 := fa[i], fb[i]
		if i == PrecSecond-1 {
			f1, f2 = fa[i]*1000+fa[i+1], fb[i]*1000+fb[i+1]
		}
		if f1 != f2 {
			if f1 < f2 {
				return -1, true
			}
			return 1, true
		}
	}
	if pa != pb {
		return 0, false
	}
	return 0, true
}

func (d DateTime) utc() DateTime {
	if !d.HasTZ || d.Prec < PrecHour {
		return d
	}
	t := d.toTime()
	r := fromTime(t, d.Kind, d.Prec, true, 0)
	r.fracDigits = d.fracDigits
	return r
}

// addDuration adds n units (a calendar unit name) to d.
func (d DateTime) add(n int64, unit string) (DateTime, error) {
	t := d.toTime()
	if d.HasTZ {
		t = t.Add(time.Duration(d.TZMinutes) * time.Minute)
	}
	switch unit {
	case "year":
		return d.addMonths(n * 12), nil
	case "month":
		return d.addMonths(n), nil
	case "week":
		n *= 7
		fallthrough
	case "day":
		if d.Kind == KindTime {
			return d, nil
		}
		if d.Prec < PrecDay {
			// days below the value's precision are dropped
			return d.addMonths(n / 30), nil
		}
		t = t.AddDate(0, 0, int(n))
	case "hour":
		t = t.Add(time.Duration(n) * time.Hour)
	case "minute":
		t = t.Add(time.Duration(n) * time.Minute)
	case "second":
		t = t.Add(time.Duration(n) * time.Second)
	case "millisecond":
		t = t.Add(time.Duration(n) * time.Millisecond)
	default:
		return DateTime{}, fmt.Errorf("cannot add unit %q to a date/time", unit)
	}
	r := DateTime{Kind: d.Kind, Prec: d.Prec, HasTZ: d.HasTZ, TZMinutes: d.TZMinutes, fracDigits: d.fracDigits}
	if d.Kind != KindTime {
		r.Year, r.Month, r.Day = t.Year(), int(t.Month()), t.Day()
		if d.Prec < PrecMonth {
			r.Month = 0
		}
		if d.Prec < PrecDay {
			r.Day = 0
		}
	}
	if d.Prec >= PrecHour {
		r.Hour, r.Minute, r.Second, r.Millis = t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e6
	}
	return r, nil
}

func (d DateTime) addMonths(n int64) DateTime {
	if d.Kind == KindTime {
		return d
	}
	r := d
	if d.Prec < PrecMonth {
		r.Year += int(n / 12)
		return r
	}
	m := int64(d.Year)*12 + int64(d.Month-1) + n
	r.Year, r.Month = int(m/12), int(m%12)+1
	if r.Prec >= PrecDay && r.Day > daysIn(r.Year, r.Month) {
		r.Day = daysIn(r.Year, r.Month)
	}
	return r
}
