package idcard

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
		value   string
		birth   string
		sex     Sex
		legacy  bool
	}{
		// The GB 11643-1999 example number.
		{in: "11010519491231002X", value: "11010519491231002X", birth: "1949-12-31", sex: Female},
		{in: "11010519491231002x", value: "11010519491231002X", birth: "1949-12-31", sex: Female},
		{in: "11010519491231002Ｘ", value: "11010519491231002X", birth: "1949-12-31", sex: Female},
		{in: " 440524188001010014 ", value: "440524188001010014", birth: "1880-01-01", sex: Male},
		{in: "310101199001011234", value: "310101199001011234", birth: "1990-01-01", sex: Male},
		{in: "110105194912310021", wantErr: ErrCheck, value: "110105194912310021", birth: "1949-12-31", sex: Female},
		{in: "110105194902300020", wantErr: ErrBirthDate},
		{in: "1101051949123100A1", wantErr: ErrCharacter},
		{in: "11010519491231002Y", wantErr: ErrCharacter},
		{in: "1101051949", wantErr: ErrLength},
		{in: "", wantErr: ErrLength},
		{in: "110105491231002", value: "110105491231002", birth: "1949-12-31", sex: Female, legacy: true},
		{in: "110105491231003", value: "110105491231003", birth: "1949-12-31", sex: Male, legacy: true},
		{in: "11010549123100A", wantErr: ErrCharacter},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := Parse(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if tt.value == "" {
				return
			}
			if n.Value != tt.value || n.Sex != tt.sex || n.Legacy != tt.legacy || n.BirthDate.Format(time.DateOnly) != tt.birth {
				t.Errorf("Parse(%q) = %+v, want value %s birth %s sex %v legacy %v", tt.in, n, tt.value, tt.birth, tt.sex, tt.legacy)
			}
			if n.AreaCode != tt.value[:6] {
				t.Errorf("AreaCode = %q", n.AreaCode)
			}
		})
	}
}

func TestCheckChar(t *testing.T) {
	for in, want := range map[string]byte{
		"11010519491231002": 'X',
		"44052418800101001": '4',
		"31010119900101123": '4', // 140 mod 11 = 8 → 4
	} {
		got, err := CheckChar(in)
		if err != nil || got != want {
			t.Errorf("CheckChar(%q) = %c, %v; want %c", in, got, err, want)
		}
	}
}

func TestLooks(t *testing.T) {
	for in, want := range map[string]bool{
		"11010519491231002X": true,
		"110105194912310021": true, // shape only: the check character is Parse's job
		"PATID1234":          false,
		"1101051949123100XX": false,
		"110105491231002":    true, // first generation, 15 digits
		"11010549123100X":    false,
		"11010549123100":     false,
	} {
		if got := Looks(in); got != want {
			t.Errorf("Looks(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestUpgrade(t *testing.T) {
	for in, want := range map[string]struct {
		out string
		ok  bool
	}{
		// 110105 491231 002 → 110105 19491231 002 + check X (the 18-digit card of the same person)
		"110105491231002":    {"11010519491231002X", true},
		"440524800101001":    {"440524198001010013", true},  // 196 mod 11 = 9 → 3
		"11010519491231002X": {"11010519491231002X", false}, // already 18
		"110105491331002":    {"110105491331002", false},    // month 13: not a card
	} {
		out, ok := Upgrade(in)
		if out != want.out || ok != want.ok {
			t.Errorf("Upgrade(%q) = %q, %v; want %q, %v", in, out, ok, want.out, want.ok)
		}
		if ok {
			if n, err := Parse(out); err != nil || n.Legacy {
				t.Errorf("Upgrade(%q) = %q does not parse as a second-generation card: %v", in, out, err)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "110105491231002", "11010519491231002Ｘ", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil && !errors.Is(err, ErrCheck) {
			return
		}
		// A number that decodes must re-check to the same verdict.
		if !n.Legacy {
			want, cerr := CheckChar(n.Value[:17])
			if cerr != nil {
				t.Fatalf("decoded %q but CheckChar fails: %v", n.Value, cerr)
			}
			if (want == n.Value[17]) != (err == nil) {
				t.Fatalf("Parse(%q) err=%v inconsistent with check char %c", s, err, want)
			}
		}
		if n.Sex == SexUnknown {
			t.Fatalf("Parse(%q) decoded without sex", s)
		}
	})
}
