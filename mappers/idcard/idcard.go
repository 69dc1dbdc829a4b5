// Package idcard checks Chinese resident identity card numbers
// (居民身份证号码, GB 11643-1999): the ISO 7064 MOD 11-2 check character,
// the encoded birth date and the sex encoded by the sequence number.
package idcard

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sex is the sex encoded in a card number: the 17th digit is odd for men
// and even for women.
type Sex int

// Sexes encoded by a card number.
const (
	SexUnknown Sex = iota
	Male
	Female
)

func (s Sex) String() string {
	switch s {
	case Male:
		return "male"
	case Female:
		return "female"
	}
	return "unknown"
}

// Errors returned by Parse. A number with a bad check character still has
// its other parts decoded, so callers can report a warning and keep it.
var (
	ErrLength    = errors.New("idcard: not 15 or 18 characters")
	ErrCharacter = errors.New("idcard: invalid character")
	ErrBirthDate = errors.New("idcard: invalid birth date")
	ErrCheck     = errors.New("idcard: check character mismatch")
)

// Number is a decoded card number.
type Number struct {
	Value     string    // normalised: 18 characters, upper-case X; 15-digit numbers kept as given
	AreaCode  string    // GB/T 2260 code of the issuing area (not the residence)
	BirthDate time.Time // UTC midnight
	Sex       Sex
	Legacy    bool // a 15-digit first-generation number, which has no check character
}

var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const checkChars = "10X98765432"

// Normalize trims spaces and turns a full-width or lower-case x into X, the
// forms seen from hand entry and card readers.
func Normalize(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "Ｘ", "X")
	return strings.ReplaceAll(s, "x", "X")
}

// CheckChar returns the check character for the first 17 digits of an
// 18-character number.
func CheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, ErrLength
	}
	sum := 0
	for i := range 17 {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w at position %d", ErrCharacter, i+1)
		}
		sum += int(c-'0') * weights[i]
	}
	return checkChars[sum%11], nil
}

// Looks reports whether s has the shape of a card number (18 characters,
// 17 digits and a digit or X; or a first-generation number of 15 digits),
// without checking it further. Mappers use it to recognise card numbers that
// arrive without an identifier type.
func Looks(s string) bool {
	s = Normalize(s)
	if len(s) != 18 && len(s) != 15 {
		return false
	}
	for i := range len(s) - 1 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	last := s[len(s)-1]
	return last >= '0' && last <= '9' || len(s) == 18 && last == 'X'
}

// Upgrade returns the 18-character form of a first-generation 15-digit
// number (the year gains its century, 19, and a check character is added),
// which is how the same person's second-generation card reads, so that both
// forms identify one person. Other input is returned unchanged, with false.
func Upgrade(s string) (string, bool) {
	s = Normalize(s)
	n, err := Parse(s)
	if err != nil || !n.Legacy {
		return s, false
	}
	first17 := s[:6] + "19" + s[6:]
	c, err := CheckChar(first17)
	if err != nil {
		return s, false
	}
	return first17 + string(c), true
}

// Parse decodes and checks s. On ErrCheck the returned Number is fully
// decoded; on any other error it is the zero Number.
func Parse(s string) (Number, error) {
	s = Normalize(s)
	switch len(s) {
	case 18:
		want, err := CheckChar(s[:17])
		if err != nil {
			return Number{}, err
		}
		last := s[17]
		if last != 'X' && (last < '0' || last > '9') {
			return Number{}, fmt.Errorf("%w at position 18", ErrCharacter)
		}
		n, err := decode(s, s[6:14], s[16])
		if err != nil {
			return Number{}, err
		}
		if last != want {
			return n, fmt.Errorf("%w: got %c, want %c", ErrCheck, last, want)
		}
		return n, nil
	case 15:
		for i := range 15 {
			if s[i] < '0' || s[i] > '9' {
				return Number{}, fmt.Errorf("%w at position %d", ErrCharacter, i+1)
			}
		}
		// First-generation cards carry a two-digit year of the 1900s.
		n, err := decode(s, "19"+s[6:12], s[14])
		n.Legacy = err == nil
		return n, err
	}
	return Number{}, ErrLength
}

func decode(s, yyyymmdd string, seq byte) (Number, error) {
	bd, err := time.Parse("20060102", yyyymmdd)
	if err != nil {
		return Number{}, fmt.Errorf("%w: %q", ErrBirthDate, yyyymmdd)
	}
	sex := Female
	if (seq-'0')%2 == 1 {
		sex = Male
	}
	return Number{Value: s, AreaCode: s[:6], BirthDate: bd, Sex: sex}, nil
}
