package hl7v2

import "testing"

func TestUnescape(t *testing.T) {
	d := DefaultDelimiters()
	d7 := d
	d7.Truncation = '#'
	tests := []struct {
		d        Delimiters
		in, want string
	}{
		{d, "plain", "plain"},
		{d, `a\F\b\S\c\T\d\R\e\E\f`, "a|b^c&d~e\\f"},
		{d, `\X41\\X4142\\x0d0A\`, "AAB\\x0d0A\\"}, // hex digits upper or lower, the X must be upper case
		{d, `\X0d0A\`, "\r\n"},
		{d, `line1\.br\line2`, "line1\nline2"},
		{d, `\H\bold\N\normal`, "boldnormal"},
		{d, `\Zlocal\ \C2842\ \.sp\ \M2442\`, `\Zlocal\ \C2842\ \.sp\ \M2442\`},
		{d, `\X4\ \X4G\ \X\`, `\X4\ \X4G\ \X\`},
		{d, `unterminated\F`, `unterminated\F`},
		{d, `\\`, `\\`},
		{d, `\P\`, `\P\`}, // no truncation character before v2.7
		{d7, `\P\`, "#"},
		{d, `\F\\S\`, "|^"},
		{Delimiters{Field: '|', Component: '^'}, `\F\`, `\F\`}, // no escape character
		{Delimiters{Field: '$', Component: '%', Repetition: '*', Escape: '!', Subcomponent: '@'}, `a!F!b!S!c!E!`, "a$b%c!"},
	}
	for _, tt := range tests {
		if got := Unescape(tt.d, tt.in); got != tt.want {
			t.Errorf("Unescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := string(AppendUnescaped([]byte("x"), tt.d, []byte(tt.in))); got != "x"+tt.want {
			t.Errorf("AppendUnescaped(%q) = %q", tt.in, got)
		}
	}
}

func TestEscape(t *testing.T) {
	d := DefaultDelimiters()
	d7 := d
	d7.Truncation = '#'
	tests := []struct {
		d        Delimiters
		in, want string
	}{
		{d, "plain 张三", "plain 张三"},
		{d, "a|b^c&d~e\\f", `a\F\b\S\c\T\d\R\e\E\f`},
		{d, "l1\nl2\r\nl3", `l1\.br\l2\X0D\\.br\l3`},
		{d, "#", "#"},
		{d7, "#1", `\P\1`},
		{Delimiters{Field: '$', Component: '%', Repetition: '*', Escape: '!', Subcomponent: '@'}, "$|!", "!F!|!E!"},
		{Delimiters{Field: '|', Component: '^', Repetition: '~'}, "a\nb", "a b"},
	}
	for _, tt := range tests {
		got := Escape(tt.d, tt.in)
		if got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.d.Escape != 0 && Unescape(tt.d, got) != tt.in {
			t.Errorf("Unescape(Escape(%q)) = %q", tt.in, Unescape(tt.d, got))
		}
	}
}
