package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/store"
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
		if err := tx.Lock(ctx, "ingest:message:"+rec.Sender+"\x00"+rec.ControlID); err != nil {
			return fmt.Errorf("lock message: %w", err)
		}
		if rec.ID != "" {
			if _, err := tx.ReadMessage(ctx, rec.ID); err != nil { // locks the row
				return fmt.Errorf("lock message row: %w", err)
			}
		}
		dup, err := tx.FindAppliedMessage(ctx, rec.Sender, rec.ControlID)
		switch {
		case err == nil:
			if dup.ID == rec.ID {
				a.again = true
				rec.Status = store.MessageApplied
			} else {
				a.dupOf = dup.ID
				rec.Status = store.MessageDuplicate
				rec.Reason = "duplicate of message " + dup.ID
			}
			rec.Resources = dup.Resources
			a.msg, err = tx.PutMessage(ctx, rec)
			return err
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("find applied message: %w", err)
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
			if resources, err = p.applyEntries(ctx, tx, plan.entries); err != nil {
				return err
			}
			if err := tx.SetEventTimes(ctx, plan.keys, rec.EventTime); err != nil {
				return fmt.Errorf("set event times: %w", err)
			}
		}
		rec.Status, rec.Resources = store.MessageApplied, append(mg.resources, resources...)
		rec.Reason = strings.Join(slices.Concat(mg.notes, plan.notes, warningNote(j)), "; ")
		a.msg, err = tx.PutMessage(ctx, rec)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		// A concurrent copy of the message committed first (the unique constraint on
		// applied sender and control id), or a concurrent writer took a version:
		// either way the caller runs again and finds out which.
		return applied{}, err
	}
	return a, err
}

// applyFailure turns a failed Bundle entry into a failure without patient data: the
// OperationOutcome's codes and element paths, not its diagnostics (which may quote
// values).
func applyFailure(oe *outcome.Error) *failure {
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
	return &failure{ack: "AE", reason: r, err: errDetail{Code: codeInternalError, Severity: "E", Text: r}}
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
func (p *Pipeline) applyEntries(ctx context.Context, tx store.Tx, entries []interaction.TxEntry) ([]string, error) {
	locs, err := p.svc.ApplyEntries(ctx, tx, entries)
	if err != nil {
		var oe *outcome.Error
		if errors.As(err, &oe) && !transient(oe) {
			return nil, applyFailure(oe)
		}
		return nil, err
	}
	return locs, nil
}
