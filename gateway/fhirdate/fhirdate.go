// Package fhirdate turns FHIR date, dateTime and instant values, which may be partial
// ("2024", "2024-03"), into the closed time range they denote, as FHIR search compares
// them (https://hl7.org/fhir/R4/search.html#date).
package fhirdate

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Precision is how much of a date was written.
type Precision int

// Precisions from the coarsest to the finest.
const (
	Year Precision = iota + 1
	Month
	Day
	Minute
	Second
	Fraction
)

var pattern = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// Range is the closed interval [Low, High] that a value denotes, at microsecond grain.
type Range struct {
	Low, High time.Time
	Precision Precision
}

// Parse reads a FHIR date, dateTime or instant. Values with a time but no zone are taken
// as UTC, and so are dates, since this server keeps no local zone.
func Parse(s string) (Range, error) {
	m := pattern.FindStringSubmatch(s)
	if m == nil {
		return Range{}, fmt.Errorf("fhirdate: %q is not a FHIR date, dateTime or instant", s)
	}
	num := func(i int) int {
		if m[i] == "" {
			return 0
		}
		n, _ := strconv.Atoi(m[i])
		return n
	}
	year, month, day := num(1), 1, 1
	prec := Year
	if m[2] != "" {
		month, prec = num(2), Month
	}
	if m[3] != "" {
		day, prec = num(3), Day
	}
	if month < 1 || month > 12 {
		return Range{}, fmt.Errorf("fhirdate: %q has month %d", s, month)
	}
	loc := time.UTC
	if m[8] != "" && m[8] != "Z" {
		sign := 1
		if m[8][0] == '-' {
			sign = -1
		}
		h, _ := strconv.Atoi(m[8][1:3])
		mi, _ := strconv.Atoi(m[8][4:6])
		if h > 14 || mi > 59 {
			return Range{}, fmt.Errorf("fhirdate: %q has an impossible zone", s)
		}
		loc = time.FixedZone("", sign*(h*3600+mi*60))
	}
	hour, minute, sec, nsec := 0, 0, 0, 0
	if m[4] != "" {
		hour, minute, prec = num(4), num(5), Minute
		if m[6] != "" {
			sec, prec = num(6), Second
		}
		if m[7] != "" {
			frac := m[7][1:]
			n, _ := strconv.Atoi(frac)
			for i := len(frac); i < 9; i++ {
				n *= 10
			}
			nsec, prec = n, Fraction
		}
		if hour > 24 || minute > 59 || sec > 60 || hour == 24 && (minute != 0 || sec != 0) {
			return Range{}, fmt.Errorf("fhirdate: %q has an impossible time", s)
		}
	}
	low := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if low.Day() != day || int(low.Month()) != month && hour != 24 {
		return Range{}, fmt.Errorf("fhirdate: %q is not a calendar date", s)
	}
	var next time.Time
	switch prec {
	case Year:
		next = low.AddDate(1, 0, 0)
	case Month:
		next = low.AddDate(0, 1, 0)
	case Day:
		next = low.AddDate(0, 0, 1)
	case Minute:
		next = low.Add(time.Minute)
	case Second:
		next = low.Add(time.Second)
	case Fraction:
		// the value is exact to the digits written: 10:00:00.5 covers [.5, .6)
		digits := len(m[7]) - 1
		step := time.Duration(1)
		for i := digits; i < 9; i++ {
			step *= 10
		}
		next = low.Add(step)
	}
	low = low.UTC().Truncate(time.Microsecond)
	high := next.UTC().Add(-time.Microsecond).Truncate(time.Microsecond)
	if high.Before(low) {
		high = low
	}
	return Range{Low: low, High: high, Precision: prec}, nil
}
