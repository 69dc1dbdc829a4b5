package ingest

import (
	"testing"
	"time"
)

func TestParseDTM(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2024", want: time.Date(2024, 1, 1, 0, 0, 0, 0, cst)},
		{in: "202403", want: time.Date(2024, 3, 1, 0, 0, 0, 0, cst)},
		{in: "20240301", want: time.Date(2024, 3, 1, 0, 0, 0, 0, cst)},
		{in: "2024030109", want: time.Date(2024, 3, 1, 9, 0, 0, 0, cst)},
		{in: "202403010930", want: time.Date(2024, 3, 1, 9, 30, 0, 0, cst)},
		{in: "20240301093015", want: time.Date(2024, 3, 1, 9, 30, 15, 0, cst)},
		{in: "20240301093015.1234", want: time.Date(2024, 3, 1, 9, 30, 15, 123400000, cst)},
		{in: "20240301093015+0000", want: time.Date(2024, 3, 1, 9, 30, 15, 0, time.UTC)},
		{in: "20240301093015.5-0500", want: time.Date(2024, 3, 1, 14, 30, 15, 500000000, time.UTC)},
		{in: "202403010930+0800", want: time.Date(2024, 3, 1, 1, 30, 0, 0, time.UTC)},
		{in: "20240229", want: time.Date(2024, 2, 29, 0, 0, 0, 0, cst)},
		{in: "", bad: true},
		{in: "2024030", bad: true},
		{in: "20230229", bad: true},
		{in: "20241301", bad: true},
		{in: "20240301250000", bad: true},
		{in: "2024030109.5", bad: true},
		{in: "20240301093015.12345", bad: true},
		{in: "20240301+08", bad: true},
		{in: "20240301+2400", bad: true},
		{in: "2024-03-01", bad: true},
		{in: "abcd", bad: true},
	}
	for _, tc := range tests {
		got, err := ParseDTM(tc.in, cst)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseDTM(%q) = %v, want error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseDTM(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseDTM(f *testing.F) {
	for _, s := range []string{"2024", "20240301093015.1234+0800", "20240229", "2024030109.5", "20240301-0000", "9999123123595"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDTM(s, time.UTC)
		if err != nil {
			return
		}
		// The digits written are the time in its own zone.
		n := 0
		for n < len(s) && n < 14 && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if got.Format("20060102150405")[:n] != s[:n] {
			t.Fatalf("ParseDTM(%q) = %v: digits changed", s, got)
		}
		if y := got.Year(); y < 0 || y > 9999 {
			t.Fatalf("ParseDTM(%q) year %d", s, y)
		}
	})
}
