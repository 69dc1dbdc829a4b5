package hl7v2

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestDelimiters(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		want    Delimiters
		path    string
		value   string
		wantErr string
	}{
		{name: "default", msg: `MSH|^~\&|APP|FAC|||20240101||ADT^A01|1|P|2.5` + "\rPID|1||123^^^MR~456^^^SS||DOE^JOHN",
			want: DefaultDelimiters(), path: "PID-3[2].1", value: "456"},
		{name: "v2.7 truncation", msg: `MSH|^~\&#|APP|FAC|||20240101||ADT^A01|1|P|2.7` + "\rPID|1||1||O\\P\\BRIEN^ANN#",
			want: Delimiters{'|', '^', '~', '\\', '&', '#'}, path: "PID-5.1", value: "O#BRIEN"},
		{name: "dollar separators", msg: `MSH$^~\&$APP$FAC$$$20240101$$ADT^A01$1$P$2.3` + "\rPID$1$$7$$SMITH^JO|E",
			want: Delimiters{Field: '$', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'},
			path: "PID-5.2", value: "JO|E"},
		{name: "exotic set", msg: "MSH*%!@/*APP*FAC****ADT%A01*1*P*2.5\rPID*1**A/B%C!D/E@F@",
			want: Delimiters{Field: '*', Component: '%', Repetition: '!', Escape: '@', Subcomponent: '/'},
			path: "PID-3[2].1.2", value: "E*"},
		{name: "three encoding chars", msg: "MSH|^~\\|A\rPID|1||x\\F\\y",
			want: Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\'}, path: "PID-3", value: "x|y"},
		{name: "repeated encoding char", msg: "MSH|^^\\&|A", wantErr: "MSH-2"},
		{name: "letter separator", msg: "MSHA^~\\&A", wantErr: "MSH-1"},
		{name: "empty MSH-2", msg: "MSH||A", wantErr: "MSH-2"},
		{name: "long MSH-2", msg: "MSH|^~\\&#$|A", wantErr: "MSH-2"},
		{name: "no MSH", msg: "PID|1", wantErr: "does not start with an MSH"},
		{name: "batch", msg: "FHS|^~\\&\rMSH|^~\\&|A", wantErr: "where MSH was expected"},
		{name: "too short", msg: "MSH", wantErr: "MSH-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.msg))
			if tt.wantErr != "" {
				var pe *ParseError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want *ParseError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Delims() != tt.want {
				t.Errorf("Delims = %+v, want %+v", m.Delims(), tt.want)
			}
			if got := m.Get(tt.path); got != tt.value {
				t.Errorf("Get(%q) = %q, want %q", tt.path, got, tt.value)
			}
			if got := m.Header().Field(2).String(); got != tt.want.EncodingCharacters() {
				t.Errorf("MSH-2 = %q, want %q", got, tt.want.EncodingCharacters())
			}
			if got := m.Get("MSH-1"); got != string(tt.want.Field) {
				t.Errorf("MSH-1 = %q", got)
			}
		})
	}
}

const sample = "MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240102030405||ADT^A08^ADT_A01|CTRL-1|P|2.5.1|||AL|NE||UNICODE UTF-8\r" +
	"EVN|A08|20240102030405\r" +
	"PID|1||111^^^HOSP^MR~222&X&Y^^^SS^SS||DOE\\S\\SMITH^JOHN\\T\\J^Q~ALIAS^AL||19800101|M|||1 MAIN ST\\.br\\APT 2^^CITY^^12345||\"\"\r" +
	"OBX|1|ST|A^Alpha||first\\E\\value|||N\r" +
	"OBX|2|ST|B^Beta||\\H\\bold\\N\\ text\\X41\\ \\Zunknown\\ end\\|||H\r"

func TestPaths(t *testing.T) {
	m, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
		ok         bool
	}{
		{"PID-5.1", "DOE^SMITH", true},
		{"PID-5", "DOE^SMITH", true},
		{"PID-5.2", "JOHN&J", true},
		{"PID-5.2.1", "JOHN&J", true}, // \T\ is text, not a separator
		{"PID-5[2].1", "ALIAS", true},
		{"PID-5[3].1", "", false},
		{"PID-3[2].1", "222", true},
		{"PID-3[2].1.2", "X", true},
		{"PID-3[2].1.3", "Y", true},
		{"PID-3[2].1.4", "", false},
		{"PID-3.4", "HOSP", true},
		{"PID-3-4", "HOSP", true},
		{"PID-11.1", "1 MAIN ST\nAPT 2", true},
		{"PID-13", `""`, true},
		{"PID-99", "", false},
		{"OBX-5", "first\\value", true},
		{"OBX[2]-5", "bold textA \\Zunknown\\ end\\", true},
		{"OBX[2]-8", "H", true},
		{"OBX[3]-1", "", false},
		{"MSH-9.2", "A08", true},
		{"MSH-10", "CTRL-1", true},
		{"MSH-2", "^~\\&", true},
		{"MSH-1", "|", true},
		{"MSH-18", "UNICODE UTF-8", true},
		{"ZZZ-1", "", false},
		{"PID", "", false},
		{"PID-0", "", false},
		{"pid-1", "", false},
		{"PID-1.", "", false},
		{"PID[0]-1", "", false},
		{"PID-1[x]", "", false},
		{"PID-1.1.1.1", "", false},
	}
	for _, tt := range tests {
		got, ok := m.Lookup(tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	code, trigger, structure := m.Type()
	if code != "ADT" || trigger != "A08" || structure != "ADT_A01" {
		t.Errorf("Type = %q %q %q", code, trigger, structure)
	}
	if m.ControlID() != "CTRL-1" || m.ProcessingID() != "P" || m.Version() != "2.5.1" || m.Charset() != "UNICODE UTF-8" {
		t.Errorf("header: %q %q %q %q", m.ControlID(), m.ProcessingID(), m.Version(), m.Charset())
	}
	if n := len(m.AllSegments("OBX")); n != 2 {
		t.Errorf("AllSegments(OBX) = %d", n)
	}
	pid, ok := m.Segment("PID")
	if !ok {
		t.Fatal("no PID")
	}
	f := pid.Field(3)
	if f.NumReps() != 2 || len(f.Reps()) != 2 || f.Rep(2).NumComponents() != 5 || f.Rep(2).Component(1).NumSubs() != 3 {
		t.Errorf("PID-3 structure: %d reps, %d components, %d subs", f.NumReps(), f.Rep(2).NumComponents(), f.Rep(2).Component(1).NumSubs())
	}
	if got := string(pid.Field(5).Rep(1).Component(1).Raw()); got != `DOE\S\SMITH` {
		t.Errorf("raw PID-5.1 = %q", got)
	}
	if !pid.Field(13).IsNull() || pid.Field(12).IsNull() || !pid.Field(12).IsEmpty() {
		t.Error("IsNull/IsEmpty wrong")
	}
	if pid.NumFields() != 13 || len(pid.Fields()) != 13 {
		t.Errorf("PID NumFields = %d", pid.NumFields())
	}
	if p, err := ParsePath("OBX[2]-5[3].4.2"); err != nil || p.String() != "OBX[2]-5[3].4.2" {
		t.Errorf("ParsePath round trip: %v %v", p, err)
	}
	if _, err := ParsePath("P-1"); err == nil {
		t.Error("ParsePath accepted P-1")
	}
}

func TestTerminators(t *testing.T) {
	body := []string{"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5", "PID|1||42||ROE^RICHARD", "PV1|1|I"}
	for name, sep := range map[string]string{"CR": "\r", "LF": "\n", "CRLF": "\r\n", "LFCR": "\n\r", "blank lines": "\r\n\r\n"} {
		for _, prefix := range []string{"", "\xEF\xBB\xBF", "\r\n"} {
			for _, suffix := range []string{"", sep, sep + "   " + sep} {
				data := prefix + strings.Join(body, sep) + suffix
				m, err := Parse([]byte(data))
				if err != nil {
					t.Fatalf("%s %q: %v", name, data, err)
				}
				if m.NumSegments() != 3 || m.Get("PID-5.2") != "RICHARD" || m.Get("PV1-2") != "I" {
					t.Errorf("%s %q: %d segments, PID-5.2 %q", name, data, m.NumSegments(), m.Get("PID-5.2"))
				}
				if got, want := string(m.Encode()), strings.Join(body, "\r")+"\r"; got != want {
					t.Errorf("%s: Encode = %q", name, got)
				}
				if string(m.Raw()) != data {
					t.Errorf("%s: Raw changed", name)
				}
			}
		}
	}
}

// TestBadSegments: Sequence is the segment's occurrence among those with its
// ID (ERR-2.2), Index its position in the message; an invalid ID has no
// occurrence.
func TestBadSegments(t *testing.T) {
	for _, tt := range []struct {
		msg, want       string
		seg             string
		seq, idx, bytes int
	}{
		{"MSH|^~\\&|A\rpid|1", "invalid segment ID", "", 0, 2, 11},
		{"MSH|^~\\&|A\rPI", "invalid segment ID", "", 0, 2, 11},
		{"MSH|^~\\&|A\rPIDX|1", "invalid segment ID", "", 0, 2, 11},
		{"MSH|^~\\&|A\rMSH|^~\\&|B", "second message", "MSH", 2, 2, 11},
		{"MSH|^~\\&|A\rBTS|1", "batch", "BTS", 1, 2, 11},
		{"MSH|^~\\&|A\rPID|1\rOBX|1\rOBX|2\rMSH|^~\\&|B", "second message", "MSH", 2, 5, 29},
		{"MSH|^~\\&|A\rPID|1\rBTS|1\rOBX|1\rBTS|2", "batch", "BTS", 1, 3, 17},
		{"PID|1\rMSH|^~\\&|A", "does not start with an MSH", "MSH", 1, 1, 0},
	} {
		_, err := Parse([]byte(tt.msg))
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(pe.Reason, tt.want) || pe.Segment != tt.seg ||
			pe.Sequence != tt.seq || pe.Index != tt.idx || pe.Position != tt.bytes {
			t.Errorf("Parse(%q) = %#v, want reason %q, %s occurrence %d, segment %d, byte %d",
				tt.msg, err, tt.want, tt.seg, tt.seq, tt.idx, tt.bytes)
		}
	}
}

func gb18030(t *testing.T, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCharsets(t *testing.T) {
	// 张三 at PID-5 in GB18030; 癸 (B9EF) and 亅 (81 5C, a trail byte equal
	// to the escape character) and 丨 (81 7C, equal to '|') in MSH-4 check
	// that delimiters are never found inside a double-byte character.
	const utf = "MSH|^~\\&|HIS|第一人民医院丨亅|EMR|FAC|20240101||ADT^A01|GB1|P|2.5||||||%s\rPID|1||310101199001011234^^^^ID||张三^^^^^^L||19900101|M\r"
	tests := []struct {
		name, msh18 string
		opts        []Option
		encode      func(string) []byte
		wantCharset string
		wantLossy   bool
	}{
		{"declared GB 18030-2000", "GB 18030-2000", nil, func(s string) []byte { return gb18030(t, s) }, "GB 18030-2000", false},
		{"declared GBK", "GBK", nil, func(s string) []byte { return gb18030(t, s) }, "GB 18030-2000", false},
		{"declared gbk", "gbk", nil, func(s string) []byte { return gb18030(t, s) }, "GB 18030-2000", false},
		{"declared GB2312", "GB2312", nil, func(s string) []byte { return gb18030(t, s) }, "GB 18030-2000", false},
		{"declared CP936", "CP936", nil, func(s string) []byte { return gb18030(t, s) }, "GB 18030-2000", false},
		{"empty MSH-18, GB18030 bytes", "", nil, func(s string) []byte { return gb18030(t, s) }, "GB 18030-2000", false},
		{"empty MSH-18, UTF-8 bytes", "", nil, func(s string) []byte { return []byte(s) }, "UNICODE UTF-8", false},
		{"UNICODE UTF-8", "UNICODE UTF-8", nil, func(s string) []byte { return []byte(s) }, "UNICODE UTF-8", false},
		{"UNICODE", "UNICODE", nil, func(s string) []byte { return []byte(s) }, "UNICODE UTF-8", false},
		{"override beats MSH-18", "UNICODE UTF-8", []Option{WithCharset("GBK")}, func(s string) []byte { return gb18030(t, s) }, "GB 18030-2000", false},
		{"repeating MSH-18", "GB 18030-2000~UNICODE UTF-8", nil, func(s string) []byte { return gb18030(t, s) }, "GB 18030-2000", false},
		{"mislabelled UTF-8", "UNICODE UTF-8", nil, func(s string) []byte { return gb18030(t, s) }, "UNICODE UTF-8", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.encode(strings.Replace(utf, "%s", tt.msh18, 1))
			m, err := Parse(data, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if m.Charset() != tt.wantCharset || m.Lossy() != tt.wantLossy {
				t.Errorf("Charset = %q lossy %v, want %q lossy %v", m.Charset(), m.Lossy(), tt.wantCharset, tt.wantLossy)
			}
			if tt.wantLossy {
				return
			}
			if got := m.Get("PID-5.1"); got != "张三" {
				t.Errorf("PID-5.1 = %q", got)
			}
			if got := m.Get("MSH-4"); got != "第一人民医院丨亅" {
				t.Errorf("MSH-4 = %q", got)
			}
			if m.ControlID() != "GB1" || m.Get("PID-5.7") != "L" {
				t.Errorf("ControlID %q PID-5.7 %q", m.ControlID(), m.Get("PID-5.7"))
			}
			if string(m.Raw()) != string(data) {
				t.Error("Raw is not the input")
			}
			if string(m.Encode()) != strings.Replace(utf, "%s", tt.msh18, 1) {
				t.Errorf("Encode = %q", m.Encode())
			}
		})
	}
	// Latin-1: MSH-18 8859/1 and ASCII decode é (0xE9) to U+00E9.
	for _, name := range []string{"8859/1", "ASCII"} {
		m, err := Parse([]byte("MSH|^~\\&|A|H\xF4pital|||||ADT^A01|L1|P|2.5||||||" + name + "\rPID|1||1||Ren\xE9"))
		if err != nil {
			t.Fatal(err)
		}
		if m.Get("PID-5") != "René" || m.Get("MSH-4") != "Hôpital" || m.Charset() != map[string]string{"8859/1": "8859/1", "ASCII": "ASCII"}[name] {
			t.Errorf("%s: PID-5 %q MSH-4 %q charset %q", name, m.Get("PID-5"), m.Get("MSH-4"), m.Charset())
		}
	}
	if _, err := Parse([]byte(sample), WithCharset("EBCDIC")); err == nil {
		t.Error("unknown override accepted")
	}
	m, err := Parse([]byte(sample), WithCharset("gb18030"))
	if err != nil || m.Charset() != "GB 18030-2000" {
		t.Errorf("ASCII with override: %v %q", err, m.Charset())
	}
	out, err := m.EncodeCharset("GB18030")
	if err != nil || string(out) != string(m.Encode()) {
		t.Errorf("EncodeCharset of ASCII text changed it: %v", err)
	}
}
