package ingest

import (
	"errors"
	"fmt"
	"time"
)

// ParseDTM parses an HL7 v2 DTM/TS value, YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ],
// as the instant it starts at. A value without an offset is in loc.
func ParseDTM(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	body, zone := s, ""
	for i := 4; i < len(s); i++ {
		if s[i] == '+' || s[i] == '-' {
			body, zone = s[:i], s[i:]
			break
		}
	}
	frac := ""
	for i := 0; i < len(body); i++ {
		if body[i] == '.' {
			body, frac = body[:i], body[i+1:]
			break
		}
	}
	if !digits(body) || !digits(frac) {
		return time.Time{}, fmt.Errorf("time %q: not digits", s)
	}
	switch len(body) {
	case 4, 6, 8, 10, 12, 14:
	default:
		return time.Time{}, fmt.Errorf("time %q: bad length", s)
	}
	if frac != "" && (len(body) != 14 || len(frac) > 4) {
		return time.Time{}, fmt.Errorf("time %q: bad fraction", s)
	}
	part := func(from, to, def int) int {
		if len(body) < to {
			return def
		}
		n := 0
		for _, c := range body[from:to] {
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := part(0, 4, 0), part(4, 6, 1), part(6, 8, 1)
	hour, minute, sec := part(8, 10, 0), part(10, 12, 0), part(12, 14, 0)
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, fmt.Errorf("time %q: out of range", s)
	}
	nsec := 0
	for i, scale := 0, 100_000_000; i < len(frac); i, scale = i+1, scale/10 {
		nsec += int(frac[i]-'0') * scale
	}
	if zone != "" {
		if len(zone) != 5 || !digits(zone[1:]) {
			return time.Time{}, fmt.Errorf("time %q: bad offset", s)
		}
		h, m := int(zone[1]-'0')*10+int(zone[2]-'0'), int(zone[3]-'0')*10+int(zone[4]-'0')
		if h > 14 || m > 59 {
			return time.Time{}, fmt.Errorf("time %q: bad offset", s)
		}
		off := (h*60 + m) * 60
		if zone[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	if loc == nil {
		loc = time.UTC
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
