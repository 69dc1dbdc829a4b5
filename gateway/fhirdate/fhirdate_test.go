package fhirdate

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UTC()
	}
	tests := []struct {
		in        string
		low, high string
		prec      Precision
	}{
		{"2024", "2024-01-01T00:00:00Z", "2024-12-31T23:59:59.999999Z", Year},
		{"2024-02", "2024-02-01T00:00:00Z", "2024-02-29T23:59:59.999999Z", Month},
		{"2023-02-28", "2023-02-28T00:00:00Z", "2023-02-28T23:59:59.999999Z", Day},
		{"2024-03-01T10:20", "2024-03-01T10:20:00Z", "2024-03-01T10:20:59.999999Z", Minute},
		{"2024-03-01T10:20:30+08:00", "2024-03-01T02:20:30Z", "2024-03-01T02:20:30.999999Z", Second},
		{"2024-03-01T10:20:30.5Z", "2024-03-01T10:20:30.5Z", "2024-03-01T10:20:30.599999Z", Fraction},
		{"2024-03-01T10:20:30.123456Z", "2024-03-01T10:20:30.123456Z", "2024-03-01T10:20:30.123456Z", Fraction},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Low.Equal(utc(tt.low)) || !r.High.Equal(utc(tt.high)) || r.Precision != tt.prec {
				t.Errorf("Parse(%q) = [%s, %s] %d, want [%s, %s] %d", tt.in, r.Low, r.High, r.Precision, tt.low, tt.high, tt.prec)
			}
		})
	}
	for _, bad := range []string{"", "24", "2024-13", "2023-02-29", "2024-01-01T25:00", "2024/01/01", "2024-01-01T10", "x2024", "2024-01-01T10:00:00+15:00"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"2024", "2024-02-29", "2024-03-01T10:20:30.5+08:00", "1999-12-31T23:59:60Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err == nil && r.High.Before(r.Low) {
			t.Fatalf("Parse(%q): high %s before low %s", s, r.High, r.Low)
		}
	})
}
