package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/store"
)

// HL7 table 0357 message error condition codes used in ERR-3.
const (
	codeAccepted                = 0
	codeRequiredFieldMissing    = 101
	codeUnsupportedMessageType  = 200
	codeUnsupportedEvent        = 201
	codeUnsupportedProcessingID = 202
	codeUnsupportedVersion      = 203
	codeUnknownKey              = 204 // e.g. the prior patient of a merge is not known
	codeDuplicateKey            = 205
	codeInternalError           = hl7v2.CodeInternalError // 207
)

var conditionText = map[int]string{
	0:   "Message accepted",
	100: "Segment sequence error",
	101: "Required field missing",
	102: "Data type error",
	103: "Table value not found",
	200: "Unsupported message type",
	201: "Unsupported event code",
	202: "Unsupported processing id",
	203: "Unsupported version id",
	204: "Unknown key identifier",
	205: "Duplicate key identifier",
	206: "Application record locked",
	207: "Application internal error",
}

// errDetail is one ERR segment.
type errDetail struct {
	Segment  string
	Sequence int // occurrence among segments with the ID (ERL-2)
	Field    int
	Rep      int    // field repetition (ERL-4); 0 when not known
	Code     int    // table 0357
	Severity string // E, W or I (table 0516)
	AppCode  string // ERR-5, the gateway's own code (mapping warnings)
	Text     string // ERR-8
}

// acknowledge builds the ACK (and in enhanced mode the application ACK) for the
// outcome of j.
func (p *Pipeline) acknowledge(j *job, out *Outcome, f *failure) {
	app := "AA"
	var errs []errDetail
	if f != nil {
		app = f.ack
		errs = append(errs, f.err)
	} else if j.result != nil {
		for _, w := range j.result.Warnings {
			d := errDetail{Segment: w.Segment, Sequence: w.Sequence, Code: codeAccepted, Severity: "W", AppCode: w.Code, Text: w.Text}
			d.Field, d.Rep = location(w.Field)
			if d.Sequence == 0 && d.Segment != "" && j.msg != nil && len(j.msg.AllSegments(d.Segment)) == 1 {
				d.Sequence = 1 // a warning that does not say which: there is only one
			}
			errs = append(errs, d)
		}
	}
	if out.Status == store.MessageDuplicate {
		errs = nil // already acknowledged with its warnings the first time
	}
	out.AppCode = app
	ackType, appType, enhanced := "", "", false
	if j.hdr != nil {
		ackType, appType = strings.ToUpper(j.hdr.Get("MSH-15")), strings.ToUpper(j.hdr.Get("MSH-16"))
		enhanced = ackType != "" || appType != ""
	}
	if !enhanced {
		out.Code = app
		out.ACK = p.buildACK(j, app, f, errs, false)
		return
	}
	commit := "CA"
	switch {
	case f != nil && f.store:
		commit = "CE"
	case f != nil && f.ack == "AR":
		commit = "CR"
	}
	out.Code = commit
	var commitErrs []errDetail
	if commit != "CA" {
		commitErrs = errs
	}
	out.ACK = p.buildACK(j, commit, f, commitErrs, false)
	out.SkipACK = !wanted(ackType, commit == "CA")
	if wanted(appType, app == "AA") && commit == "CA" {
		out.AppACK = p.buildACK(j, app, f, errs, true)
	}
}

// wanted applies an accept or application acknowledgment condition (table 0155) to an
// outcome; an empty condition is AL.
func wanted(cond string, success bool) bool {
	switch cond {
	case "NE":
		return false
	case "ER":
		return !success
	case "SU":
		return success
	}
	return true
}

// location splits a v2fhir warning field ("PID-3[2]", "OBX-5") into field number
// and repetition; 0 for what it does not say.
func location(field string) (fieldNo, rep int) {
	_, f, ok := strings.Cut(field, "-")
	if !ok {
		return 0, 0
	}
	f, r, _ := strings.Cut(f, "[")
	if i := strings.IndexByte(f, '.'); i >= 0 {
		f = f[:i]
	}
	n, err := strconv.Atoi(f)
	if err != nil || n <= 0 {
		return 0, 0
	}
	if r, _, ok := strings.Cut(r, "]"); ok {
		rep, _ = strconv.Atoi(r)
	}
	return n, max(rep, 0)
}

// buildACK writes an acknowledgment of j's message: MSA-1 code, ERR segments errs.
// app marks an enhanced-mode application acknowledgment, which asks for no
// acknowledgment of itself.
func (p *Pipeline) buildACK(j *job, code string, f *failure, errs []errDetail, app bool) []byte {
	out, err := p.writeACK(j, code, f, errs, app, true)
	if err != nil {
		// The message's delimiters parse but cannot be written (Builder is stricter
		// than Parse): answer with the standard ones, copying field text.
		out, err = p.writeACK(j, code, f, errs, app, false)
	}
	if err != nil {
		p.cfg.Log.Error("build ACK", "err", err)
		return []byte("MSH|^~\\&|||||||ACK|" + newControlID() + "|P|2.5\rMSA|" + code + "\r")
	}
	return p.encodeLike(j, out)
}

func (p *Pipeline) writeACK(j *job, code string, f *failure, errs []errDetail, app, own bool) ([]byte, error) {
	h := j.hdr
	d := hl7v2.DefaultDelimiters()
	var hdr hl7v2.Segment
	if h != nil {
		hdr = h.Header()
		if own {
			d = h.Delims()
		}
	}
	raw := func(n int) hl7v2.Value {
		if h == nil {
			return nil
		}
		if r := hdr.Field(n).Raw(); len(r) > 0 {
			if !own {
				return hl7v2.Text(hdr.Field(n).String())
			}
			return hl7v2.Encoded(string(r))
		}
		return nil
	}
	orDefault := func(n int, def string) hl7v2.Value {
		if v := raw(n); v != nil {
			return v
		}
		return hl7v2.Text(def)
	}
	var trigger hl7v2.Value
	version := "2.5"
	if h != nil {
		if t := hdr.Field(9).Component(2); !t.IsEmpty() {
			trigger = hl7v2.Text(t.String())
		}
		if v := h.Version(); v != "" {
			version = v
		}
	}
	msh := []hl7v2.Value{
		raw(5), raw(6), raw(3), raw(4), // MSH-3..6: receiver becomes sender
		hl7v2.Text(p.cfg.Now().Format("20060102150405.000-0700")), nil,
		ackType(trigger, version),
		hl7v2.Text(newControlID()), orDefault(11, "P"), orDefault(12, version),
		nil, nil, nil, nil, // MSH-13..16
		nil, raw(18), // MSH-17, MSH-18
	}
	if app {
		msh[12], msh[13] = hl7v2.Text("NE"), hl7v2.Text("NE")
	}
	for len(msh) > 0 && msh[len(msh)-1] == nil {
		msh = msh[:len(msh)-1]
	}
	b := hl7v2.NewBuilder(d)
	b.Add("MSH", msh...)
	// MSA-3 (text message, kept for older receivers) only on a negative ACK: a commit
	// accept says nothing yet about what the application will make of the message.
	msa := []hl7v2.Value{hl7v2.Text(code), raw(10)}
	if f != nil && code != "AA" && code != "CA" {
		msa = append(msa, hl7v2.Text(f.reason))
	}
	b.Add("MSA", msa...)
	old := version < "2.5" // "2.3", "2.3.1", "2.4" order before "2.5"
	for _, e := range errs {
		cond := hl7v2.Components(hl7v2.Text(strconv.Itoa(e.Code)), hl7v2.Text(conditionText[e.Code]), hl7v2.Text("HL70357"))
		loc := components(hl7v2.Text(e.Segment), num(e.Sequence), num(e.Field), num(e.Rep))
		var eld hl7v2.Value
		if old {
			// v2.3/2.4 ERR-1 (ELD): segment^sequence^field^code&text.
			eld = components(hl7v2.Text(e.Segment), num(e.Sequence), num(e.Field),
				hl7v2.Components(hl7v2.Text(strconv.Itoa(e.Code)), hl7v2.Text(conditionText[e.Code]), hl7v2.Text("HL70357")))
		}
		var appCode hl7v2.Value
		if e.AppCode != "" {
			appCode = hl7v2.Components(hl7v2.Text(e.AppCode), nil, hl7v2.Text("FHIRGW"))
		}
		b.Add("ERR", eld, loc, cond, hl7v2.Text(e.Severity), appCode, nil, nil, hl7v2.Text(e.Text))
	}
	return b.Bytes()
}

// ackType is MSH-9 of an ACK: ACK^trigger^ACK, without the message structure
// (MSH-9.3) before v2.3.1, which had none.
func ackType(trigger hl7v2.Value, version string) hl7v2.Value {
	switch version {
	case "2.1", "2.2", "2.3":
		return hl7v2.Components(hl7v2.Text("ACK"), trigger)
	}
	return hl7v2.Components(hl7v2.Text("ACK"), trigger, hl7v2.Text("ACK"))
}

// encodeLike encodes the UTF-8 ACK in the character set the message came in, so that
// a sender that writes GB18030 can read what it gets back.
func (p *Pipeline) encodeLike(j *job, ack []byte) []byte {
	if j.hdr == nil {
		return ack
	}
	cs := j.hdr.Charset()
	if cs == "UNICODE UTF-8" || cs == "ASCII" || isASCII(ack) && j.hdr.Get("MSH-18") == "" {
		return ack
	}
	m, err := hl7v2.Parse(ack, hl7v2.WithCharset("UTF-8"))
	if err != nil {
		return ack
	}
	out, err := m.EncodeCharset(cs)
	if err != nil {
		return ack // a character the set lacks: UTF-8 is still better than nothing
	}
	return out
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// components is hl7v2.Components without trailing empty components.
func components(parts ...hl7v2.Value) hl7v2.Value {
	for len(parts) > 0 && parts[len(parts)-1] == nil {
		parts = parts[:len(parts)-1]
	}
	return hl7v2.Components(parts...)
}

func num(n int) hl7v2.Value {
	if n <= 0 {
		return nil
	}
	return hl7v2.Text(strconv.Itoa(n))
}

// newControlID returns a random MSH-10 of 20 characters, the v2.5 length of ST.
func newControlID() string {
	var b [10]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
