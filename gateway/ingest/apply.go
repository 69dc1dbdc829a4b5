package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

// maxAttempts bounds how often apply runs again after losing a race (a resource
// written concurrently through the REST API, a concurrent copy of the message).
const maxAttempts = 4

// applied is what one apply transaction did.
type applied struct {
	msg   store.Message
	dupOf string // the applied message this one repeats
	again bool   // a replay of a message that is already applied
}

// apply writes the message and its resources in one transaction.
func (p *Pipeline) apply(ctx context.Context, j *job) (Outcome, *failure) {
	var a applied
	var err error
	for attempt := 1; ; attempt++ {
		a, err = p.applyOnce(ctx, j)
		if err == nil || attempt == maxAttempts || !transient(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
	}
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			return Outcome{}, f
		}
		p.cfg.Log.ErrorContext(ctx, "apply hl7v2 message", "sender", j.rec.Sender, "control_id", j.rec.ControlID, "err", err)
		return Outcome{}, &failure{ack: "AR", reason: "store failure", store: true,
			err: errDetail{Code: codeInternalError, Severity: "E", Text: "store failure, retry later"}}
	}
	return Outcome{MessageID: a.msg.ID, Status: a.msg.Status, Reason: a.msg.Reason}, nil
}

// sameMessage reports whether two messages with one sender and control id are copies
// of one another: the same bytes, apart from the segment terminators (CR, LF or CRLF,
// a trailing one or not), a byte order mark and MSH-7, which some senders stamp
// afresh when they resend.
func sameMessage(a, b []byte) bool {
	sa, sb := messageSegments(a), messageSegments(b)
	if len(sa) != len(sb) || len(sa) == 0 {
		return len(sa) == len(sb) && bytes.Equal(a, b)
	}
	for i := 1; i < len(sa); i++ {
		if !bytes.Equal(sa[i], sb[i]) {
			return false
		}
	}
	return bytes.Equal(withoutMSH7(sa[0]), withoutMSH7(sb[0]))
}

// messageSegments splits raw ER7 into its non-empty segments.
func messageSegments(raw []byte) [][]byte {
	raw = bytes.TrimPrefix(raw, []byte("\xEF\xBB\xBF"))
	return bytes.FieldsFunc(raw, func(r rune) bool { return r == '\r' || r == '\n' })
}

// withoutMSH7 returns an MSH segment with field 7 left out.
func withoutMSH7(msh []byte) []byte {
	if len(msh) < 4 {
		return msh
	}
	sep := []byte{msh[3]}
	fields := bytes.SplitN(msh, sep, 8) // MSH, MSH-2, MSH-3 ... MSH-7, the rest
	if len(fields) < 8 {
		return msh
	}
	return bytes.Join(append(fields[:6:6], fields[7]), sep)
}

// transient reports whether running the transaction again may succeed.
func transient(err error) bool {
	var f *failure
	if errors.As(err, &f) {
		return false
	}
	var oe *outcome.Error
	if errors.As(err, &oe) {
		return oe.Status == http.StatusConflict || oe.Status >= 500
	}
	return errors.Is(err, store.ErrConflict)
}

func (p *Pipeline) applyOnce(ctx context.Context, j *job) (applied, error) {
	var a applied
	err := p.st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		a = applied{} // Update may run fn again
		rec := j.rec
		// Copies of one message wait for each other here, so that the second sees
		// the first as applied instead of racing it.
		if _, err := lockMessage(ctx, tx, rec); err != nil {
			return err
		}
		cs, err := copies(ctx, tx, rec)
		if err != nil {
			return err
		}
		if dup, ok := appliedCopy(cs); ok {
			if dup.ID == rec.ID {
				a.again = true
				rec.Status = store.MessageApplied
			} else if !sameMessage(dup.Raw, rec.Raw) {
				// Another message under a control id the sender already used: applying
				// it would be as wrong as dropping it, so it waits for someone to look.
				r := fmt.Sprintf("control id %s was already used by message %s, which differs from this one", rec.ControlID, dup.ID)
				return &failure{ack: "AE", reason: r, err: errDetail{Segment: "MSH", Sequence: 1, Field: 10, Code: codeDuplicateKey, Severity: "E", Text: r}}
			} else {
				a.dupOf = dup.ID
				rec.Status = store.MessageDuplicate
				rec.Reason = "duplicate of message " + dup.ID
			}
			rec.Resources = dup.Resources
			a.msg, err = tx.PutMessage(ctx, rec)
			return err
		}

		mg, err := p.applyMerges(ctx, tx, j)
		if err != nil {
			return err
		}
		plan, err := p.prepare(ctx, tx, j)
		if err != nil {
			return err
		}
		if err := p.translateCodes(ctx, tx, j, plan.entries); err != nil {
			return err
		}
		// After translateCodes, which sets the warnings afresh on every attempt.
		j.result.Warnings = append(j.result.Warnings, mg.warnings...)
		var resources []string
		if len(plan.entries) > 0 {
			if resources, err = p.applyEntries(ctx, tx, j, plan.entries); err != nil {
				return err
			}
			if err := tx.SetEventTimes(ctx, plan.keys, rec.EventTime); err != nil {
				return fmt.Errorf("set event times: %w", err)
			}
		}
		rec.Status, rec.Resources = store.MessageApplied, append(mg.resources, resources...)
		rec.Reason = strings.Join(slices.Concat(mg.notes, plan.notes, warningNote(j)), "; ")
		if a.msg, err = tx.PutMessage(ctx, rec); err != nil {
			return err
		}
		return supersede(ctx, tx, a.msg, cs)
	})
	if errors.Is(err, store.ErrConflict) {
		// A concurrent copy of the message committed first (the unique constraint on
		// applied sender and control id), or a concurrent writer took a version:
		// either way the caller runs again and finds out which.
		return applied{}, err
	}
	return a, err
}

// applyFailure turns a failed entry into a failure without patient data: the
// OperationOutcome's codes and element paths, not its diagnostics (which may quote
// values). ERR-2 names the segment the failed entry's resource was mapped from, and
// ERR-3 says what kind of failure it was.
func applyFailure(j *job, entries []interaction.TxEntry, oe *outcome.Error) *failure {
	var parts []string
	for _, is := range oe.Issues {
		s := is.Code
		if len(is.Expression) > 0 {
			s += " at " + strings.Join(is.Expression, ", ")
		}
		parts = append(parts, s)
	}
	r := fmt.Sprintf("FHIR %d", oe.Status)
	if len(parts) > 0 {
		r += ": " + strings.Join(parts, "; ")
	}
	r = "cannot apply: " + r
	d := errDetail{Code: applyErrorCode(oe.Status), Severity: "E", Text: r}
	if src, ok := failedSource(j, entries, oe); ok {
		d.Segment, d.Sequence = src.Segment, src.Sequence
	}
	return &failure{ack: "AE", reason: r, err: d}
}

// applyErrorCode is the HL7 table 0357 code for a FHIR status refusing an entry.
func applyErrorCode(status int) int {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return hl7v2.CodeDataTypeError // a value the resource cannot hold
	case http.StatusNotFound:
		return codeUnknownKey // a reference or conditional match finds nothing
	case http.StatusPreconditionFailed:
		return codeDuplicateKey // a conditional match finds several resources
	}
	return codeInternalError
}

// failedSource finds the mapped resource of the entry an OperationOutcome blames
// ("Bundle.entry[3]..."), which knows the segment it came from.
func failedSource(j *job, entries []interaction.TxEntry, oe *outcome.Error) (v2fhir.Entry, bool) {
	if j == nil || j.result == nil {
		return v2fhir.Entry{}, false
	}
	for _, is := range oe.Issues {
		for _, expr := range is.Expression {
			rest, ok := strings.CutPrefix(expr, "Bundle.entry[")
			if !ok {
				continue
			}
			n, _, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(n)
			if err != nil || i < 0 || i >= len(entries) {
				continue
			}
			id := strings.TrimPrefix(entries[i].FullURL, "urn:uuid:")
			for _, e := range j.result.Resources {
				if e.ID == id && e.Segment != "" {
					return e, true
				}
			}
		}
	}
	return v2fhir.Entry{}, false
}

// warningNote lists the codes and places of mapping warnings (never their text, which
// may quote values) for the stored reason.
func warningNote(j *job) []string {
	if j.result == nil || len(j.result.Warnings) == 0 {
		return nil
	}
	var ws []string
	for _, w := range j.result.Warnings {
		s := w.Code
		if s == "" {
			s = "warning"
		}
		if w.Field != "" {
			s += " at " + w.Field
		} else if w.Segment != "" {
			s += " at " + w.Segment
		}
		ws = append(ws, s)
	}
	return []string{"warnings: " + strings.Join(ws, ", ")}
}

// applyEntries writes entries in tx as a transaction and returns the versions
// written ("Patient/abc/_history/2"). An entry the transaction refuses is a
// *failure.
func (p *Pipeline) applyEntries(ctx context.Context, tx store.Tx, j *job, entries []interaction.TxEntry) ([]string, error) {
	locs, err := p.svc.ApplyEntries(ctx, tx, entries)
	if err != nil {
		var oe *outcome.Error
		if errors.As(err, &oe) && !transient(oe) {
			return nil, applyFailure(j, entries, oe)
		}
		return nil, err
	}
	return locs, nil
}
