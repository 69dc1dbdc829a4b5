package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/terminology"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

// Config adapts the pipeline to a deployment. The zero Config is usable.
type Config struct {
	Mapping v2fhir.Config // identifier systems per sender etc.
	// AcceptVersions are the MSH-12 versions accepted; default 2.3 2.3.1 2.4 2.5
	// 2.5.1 2.6 2.7 2.7.1 2.8.
	AcceptVersions []string
	// AcceptProcessingIDs are the MSH-11 processing ids accepted; default P, T, D.
	AcceptProcessingIDs []string
	// TrustedSystems are the identifier systems used to match patients across
	// senders; default the citizen ID card systems v2fhir emits.
	TrustedSystems []string
	// ChannelCharsets is the charset override per channel, used by Replay (which has
	// no Inbound) and by Process when Inbound.Charset is empty.
	ChannelCharsets map[string]string
	// ConceptMaps names, per sender (MSH-4.1, else MSH-3.1, as in Mapping.Senders),
	// the ConceptMaps (canonical url, or url|version) that translate its local codes
	// (translate.go).
	ConceptMaps map[string][]string
	Now         func() time.Time
	Log         *slog.Logger
}

// Inbound is one message as a transport received it.
type Inbound struct {
	Channel string
	Raw     []byte
	Remote  string
	// Charset is the character set the transport named (an HTTP charset parameter,
	// `ingest --charset`); stored with the message. Empty: the channel's configured
	// one, else MSH-18 or detection.
	Charset string
}

// Outcome is what became of a message and what to answer.
type Outcome struct {
	// ACK is the acknowledgment to send back at once: the original-mode ACK, or in
	// enhanced mode the accept (commit) ACK. It is always built.
	ACK []byte
	// MessageID is the id of the stored message row; empty only when the store failed.
	MessageID string
	Status    string // store.MessageApplied, ...
	// Code is MSA-1 of ACK: AA, AE, AR, or in enhanced mode CA, CE, CR.
	Code   string
	Reason string

	// AppACK is, in enhanced mode, the application acknowledgment when MSH-16 asks
	// for one; the transport sends it to the sender as a message of its own. Nil
	// otherwise.
	AppACK []byte
	// AppCode is the application outcome (AA, AE, AR), in both modes.
	AppCode string
	// SkipACK is set in enhanced mode when MSH-15 says this commit ACK is not wanted
	// (NE; ER after success; SU after failure): the transport should not send ACK.
	SkipACK bool
}

// Pipeline turns HL7 v2 messages into FHIR resources. It is safe for concurrent use.
type Pipeline struct {
	st       store.Store
	svc      *interaction.Service
	cfg      Config
	versions map[string]bool
	procIDs  map[string]bool
	trusted  map[string]bool
	terms    *terminology.Loader
}

// New returns a pipeline writing to st through svc.
func New(st store.Store, svc *interaction.Service, cfg Config) *Pipeline {
	if len(cfg.AcceptVersions) == 0 {
		cfg.AcceptVersions = []string{"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8"}
	}
	if len(cfg.AcceptProcessingIDs) == 0 {
		cfg.AcceptProcessingIDs = []string{"P", "T", "D"}
	}
	if len(cfg.TrustedSystems) == 0 {
		cfg.TrustedSystems = []string{v2fhir.IDCardSystemWST500, v2fhir.IDCardSystemHL7CN}
		if s := cfg.Mapping.IDCardSystem; s != "" && !slices.Contains(cfg.TrustedSystems, s) {
			cfg.TrustedSystems = append(cfg.TrustedSystems, s)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	set := func(vs []string) map[string]bool {
		m := make(map[string]bool, len(vs))
		for _, v := range vs {
			m[v] = true
		}
		return m
	}
	return &Pipeline{st: st, svc: svc, cfg: cfg,
		versions: set(cfg.AcceptVersions), procIDs: set(cfg.AcceptProcessingIDs), trusted: set(cfg.TrustedSystems),
		terms: terminology.NewLoader()}
}

// Process stores, applies and acknowledges one message. It never returns without an
// ACK.
func (p *Pipeline) Process(ctx context.Context, in Inbound) Outcome {
	return p.run(ctx, in, nil)
}

// Replay runs the stored message id through the pipeline again and records the new
// outcome on the same row, with Attempts one higher. It returns an error wrapping
// store.ErrNotFound when there is no such message, and other errors only when the
// message cannot be read.
func (p *Pipeline) Replay(ctx context.Context, id string) (Outcome, error) {
	m, err := p.st.ReadMessage(ctx, id)
	if err != nil {
		return Outcome{}, fmt.Errorf("ingest: replay %s: %w", id, err)
	}
	if superseded(&m) {
		// A copy of it was applied since: replaying this one could only fail on the
		// control id and put a solved problem back in the queue.
		by, _, _ := strings.Cut(m.Reason, ":")
		return Outcome{MessageID: m.ID, Status: m.Status, Code: "AE", AppCode: "AE",
			Reason: "the message was " + by + "; replay that one if needed"}, nil
	}
	if cut(&m) {
		// Its end was never kept: what is left may parse and map, into partial data.
		return Outcome{MessageID: m.ID, Status: m.Status, Code: "AR", AppCode: "AR",
			Reason: "the message was cut at the size limit when it arrived and cannot be replayed; the sender must send it again"}, nil
	}
	// The transport's charset, when it named one, as on arrival; else the channel's
	// as configured now (run falls back to it), which may be the fix the replay is for.
	in := Inbound{Channel: m.Channel, Raw: m.Raw, Charset: m.Charset}
	return p.run(ctx, in, &m), nil
}

// Charset is the character set m is read with: the one its transport named, else
// its channel's as configured now; empty means MSH-18 or detection.
func (p *Pipeline) Charset(m store.Message) string {
	if m.Charset != "" {
		return m.Charset
	}
	return p.cfg.ChannelCharsets[m.Channel]
}

// failure is why a message was not applied, with what its ERR segment says.
type failure struct {
	ack    string // AE or AR
	reason string // stored, never patient data
	err    errDetail
	store  bool // the store failed: CE in enhanced mode
}

func (f *failure) Error() string { return f.reason }

// job is one run of the pipeline over a message.
type job struct {
	in     Inbound
	prev   *store.Message // the stored row, when replaying
	msg    *hl7v2.Message // nil when the message does not parse
	hdr    *hl7v2.Message // msg, or its MSH alone when only that parses
	rec    store.Message
	result *v2fhir.Result
	// mapWarnings are the mapper's warnings, kept apart from those translateCodes
	// adds on each apply attempt.
	mapWarnings   []v2fhir.Warning
	warningsSaved bool
}

// newJob starts a run over in: a new message row, or the next attempt of prev.
func (p *Pipeline) newJob(in Inbound, prev *store.Message) *job {
	j := &job{in: in, prev: prev}
	j.rec = store.Message{Channel: in.Channel, Raw: bytes.Clone(in.Raw), Attempts: 1, Charset: in.Charset,
		Received: p.cfg.Now().UTC().Truncate(time.Microsecond)}
	if j.in.Charset == "" {
		j.in.Charset = p.cfg.ChannelCharsets[in.Channel]
	}
	if prev != nil {
		j.rec = *prev
		j.rec.Attempts = prev.Attempts + 1
	}
	return j
}

// logOutcome logs what became of a message, without its content.
func (p *Pipeline) logOutcome(ctx context.Context, j *job, out Outcome, args ...any) {
	p.cfg.Log.InfoContext(ctx, "hl7v2 message", append([]any{"channel", j.in.Channel, "remote", j.in.Remote,
		"sender", j.rec.Sender, "control_id", j.rec.ControlID, "type", j.rec.Type,
		"message_id", out.MessageID, "status", out.Status, "code", out.Code}, args...)...)
}

func (p *Pipeline) run(ctx context.Context, in Inbound, prev *store.Message) Outcome {
	j := p.newJob(in, prev)
	fail := p.parse(j)
	if fail == nil {
		fail = p.check(j)
	}
	if fail == nil {
		fail = p.mapMessage(j)
	}
	var out Outcome
	if fail == nil {
		out, fail = p.apply(ctx, j)
	}
	if fail != nil {
		out = p.record(ctx, j, fail)
	}
	p.acknowledge(j, &out, fail)
	p.logOutcome(ctx, j, out, "replay", prev != nil)
	return out
}

// parse parses the raw bytes, falling back to the MSH segment alone so that the
// sender and control id can still be recorded and acknowledged.
func (p *Pipeline) parse(j *job) *failure {
	var opts []hl7v2.Option
	if j.in.Charset != "" {
		opts = append(opts, hl7v2.WithCharset(j.in.Charset))
	}
	msg, err := hl7v2.Parse(j.in.Raw, opts...)
	if err == nil {
		j.msg, j.hdr = msg, msg
		p.header(j)
		return nil
	}
	if h, herr := hl7v2.Parse(firstSegment(j.in.Raw), opts...); herr == nil {
		j.hdr = h
		p.header(j)
	}
	f := &failure{ack: "AR", reason: "cannot parse: " + strings.TrimPrefix(err.Error(), "hl7v2: "),
		err: errDetail{Code: hl7v2.CodeInternalError, Severity: "E"}}
	var pe *hl7v2.ParseError
	if errors.As(err, &pe) {
		f.err = errDetail{Segment: pe.Segment, Sequence: pe.Sequence, Field: pe.Field, Code: pe.Code, Severity: "E", Text: pe.Reason}
	}
	f.err.Text = f.reason
	return f
}

// firstSegment returns data up to the first segment terminator, after a BOM and blank
// lines.
func firstSegment(data []byte) []byte {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	data = bytes.TrimLeft(data, "\r\n")
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return data[:i]
	}
	return data
}

// header fills the message row from the MSH (and EVN) segment.
func (p *Pipeline) header(j *job) {
	h := j.hdr
	if j.prev != nil {
		return // the stored row already says all this
	}
	j.rec.Sender = h.Get("MSH-3") + "^" + h.Get("MSH-4")
	if j.rec.Sender == "^" {
		j.rec.Sender = ""
	}
	j.rec.ControlID = h.ControlID()
	code, trigger, _ := h.Type()
	if code != "" {
		j.rec.Type = code
		if trigger != "" {
			j.rec.Type += "^" + trigger
		}
	}
	j.rec.EventTime = p.eventTime(h)
	if j.rec.EventTime.After(j.rec.Received.Add(futureEventSlack)) {
		// A clock set years wrong (or a test message stamped 2029) would otherwise
		// become the resources' watermark and make every real update after it stale.
		j.rec.EventTime = j.rec.Received
	}
}

// eventTime returns EVN-2, else MSH-7, or zero when neither is a valid time.
func (p *Pipeline) eventTime(h *hl7v2.Message) time.Time {
	loc := p.cfg.Mapping.Location
	if loc == nil {
		loc = chinaStandardTime
	}
	for _, path := range []string{"EVN-2.1", "MSH-7.1"} {
		if t, err := ParseDTM(h.Get(path), loc); err == nil {
			return t.UTC().Truncate(time.Microsecond)
		}
	}
	return time.Time{}
}

var chinaStandardTime = time.FixedZone("CST", 8*3600)

// futureEventSlack is how far after its arrival a message's event time is believed:
// senders' clocks run a few minutes off, and ordering by their times is still right
// then; beyond it the time is taken as wrong and the arrival used instead.
const futureEventSlack = 24 * time.Hour

// check refuses messages whose header the gateway does not accept.
func (p *Pipeline) check(j *job) *failure {
	m := j.msg
	reject := func(field, code int, format string, args ...any) *failure {
		r := fmt.Sprintf(format, args...)
		return &failure{ack: "AR", reason: r, err: errDetail{Segment: "MSH", Sequence: 1, Field: field, Code: code, Severity: "E", Text: r}}
	}
	switch v, pid := m.Version(), m.ProcessingID(); {
	case v == "":
		return reject(12, codeUnsupportedVersion, "MSH-12 version id is missing")
	case !p.versions[v]:
		return reject(12, codeUnsupportedVersion, "version %s is not accepted", v)
	case pid == "":
		return reject(11, codeUnsupportedProcessingID, "MSH-11 processing id is missing")
	case !p.procIDs[pid]:
		return reject(11, codeUnsupportedProcessingID, "processing id %s is not accepted", pid)
	case m.ControlID() == "":
		return reject(10, codeRequiredFieldMissing, "MSH-10 message control id is missing")
	case j.rec.Type == "":
		return reject(9, codeRequiredFieldMissing, "MSH-9 message type is missing")
	case m.Lossy():
		// Bytes that are not text in the declared (or guessed) character set would
		// become U+FFFD in names and results: the message waits in the error queue
		// until the sender is fixed, or the channel's charset is set and it is replayed.
		r := fmt.Sprintf("the text is not valid %s (MSH-18 %q); set the channel's character set or fix the sender, then replay", m.Charset(), m.Get("MSH-18"))
		return &failure{ack: "AE", reason: r, err: errDetail{Segment: "MSH", Sequence: 1, Field: 18, Code: hl7v2.CodeDataTypeError, Severity: "E", Text: r}}
	}
	return nil
}

// mapMessage maps the message to FHIR.
func (p *Pipeline) mapMessage(j *job) *failure {
	res, err := v2fhir.Map(j.msg, p.cfg.Mapping)
	if err == nil {
		j.result = res
		return nil
	}
	if errors.Is(err, v2fhir.ErrUnsupported) {
		code := codeUnsupportedMessageType
		if c, _, _ := j.msg.Type(); c == "ADT" || c == "ORU" || c == "ORM" || c == "OML" {
			code = codeUnsupportedEvent
		}
		r := "unsupported message type " + j.rec.Type
		return &failure{ack: "AE", reason: r, err: errDetail{Segment: "MSH", Sequence: 1, Field: 9, Code: code, Severity: "E", Text: r}}
	}
	r := "cannot map: " + strings.TrimPrefix(err.Error(), "v2fhir: ")
	f := &failure{ack: "AE", reason: r, err: errDetail{Code: codeInternalError, Severity: "E", Text: r}}
	var me *v2fhir.MapError
	if errors.As(err, &me) {
		f.err.Segment, f.err.Sequence, f.err.Field, f.err.Code = me.Segment, me.Sequence, me.Field, me.Code
	}
	return f
}

// record stores a message that was not applied, in a transaction of its own (the one
// that tried to apply it, if any, was rolled back).
func (p *Pipeline) record(ctx context.Context, j *job, f *failure) Outcome {
	if prev := j.prev; prev != nil && (prev.Status == store.MessageApplied || prev.Status == store.MessageDuplicate) {
		// A replay never takes back what a message already did: its resources stay,
		// and so must its status and links, or the resources would be orphaned and a
		// resend of the message no longer recognised as one. The attempt is answered,
		// not recorded.
		return Outcome{MessageID: prev.ID, Status: prev.Status,
			Reason: "replay failed, the message stays " + prev.Status + ": " + f.reason}
	}
	rec := j.rec
	rec.Status = store.MessageError
	if f.ack == "AR" {
		rec.Status = store.MessageRejected
	}
	rec.Reason, rec.Resources = f.reason, nil
	out := Outcome{Status: rec.Status, Reason: f.reason}
	err := p.st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		// A copy of this message being applied at the same time marks this row
		// superseded, and must not race this write of it.
		cur, err := lockMessage(ctx, tx, rec)
		if err != nil {
			return err
		}
		if superseded(&cur) {
			// Superseded meanwhile: the copy applied is what counts.
			out.MessageID, out.Status, out.Reason = cur.ID, cur.Status, cur.Reason
			return nil
		}
		m, err := tx.PutMessage(ctx, rec)
		out.MessageID = m.ID
		return err
	})
	if err != nil {
		p.cfg.Log.ErrorContext(ctx, "store hl7v2 message", "sender", rec.Sender, "control_id", rec.ControlID, "err", err)
		out.MessageID = ""
		if !f.store {
			// The message is lost unless the sender retries: tell it to.
			*f = failure{ack: "AR", reason: "store failure: " + f.reason, store: true,
				err: errDetail{Code: codeInternalError, Severity: "E", Text: "store failure, retry later"}}
		}
		out.Status, out.Reason = "", f.reason
	}
	return out
}
