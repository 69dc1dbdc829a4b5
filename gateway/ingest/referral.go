package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/shch/fhirgw/gateway/fhirjson"
	"github.com/shch/fhirgw/gateway/store"
)

// Referral Task states a requester's REF cannot move a referral out of. answered:
// the receiving side has taken or refused it, or it has ended, so a REF^I12/I13 (which
// the mapper makes "requested") must not reopen it. ended: not even a cancel (I14)
// changes it.
var (
	answered = map[string]bool{"accepted": true, "rejected": true, "in-progress": true,
		"completed": true, "cancelled": true, "failed": true}
	ended = map[string]bool{"rejected": true, "completed": true, "cancelled": true, "failed": true}
)

// keepReferralState keeps the two-way referral workflow moving forward: a REF newer
// than the stored state (older ones are stale already) may change what was asked for,
// but not undo the receiver's answer. Its Task is left out when the stored Task has
// moved past what the REF would set, and its ServiceRequests keep their stored status.
func (p *Pipeline) keepReferralState(ctx context.Context, tx store.Tx, j *job, pl *plan) error {
	code, trigger, _ := j.msg.Type()
	if code != "REF" {
		return nil
	}
	guard := answered
	if trigger == "I14" {
		guard = ended
	}
	drop := map[int]bool{}
	literal := map[string]string{}
	for i, e := range pl.entries {
		typ, id := entryTarget(e)
		if typ != "Task" || id == "" {
			continue
		}
		status, err := storedStatus(ctx, tx, typ, id)
		if err != nil {
			return err
		}
		if !guard[status] {
			continue
		}
		drop[i] = true
		if e.FullURL != "" {
			literal[e.FullURL] = typ + "/" + id
		}
		pl.notes = append(pl.notes, fmt.Sprintf("referral %s/%s stays %s: a %s does not reopen it", typ, id, status, j.rec.Type))
	}
	if len(drop) == 0 {
		return nil
	}
	// Neither the Task left out nor the ServiceRequests whose status is kept take
	// this message's event time: the receiver's answers (an RRI sent before this
	// REF but delivered after it) must still apply to them.
	held := map[string]bool{}
	for i, e := range pl.entries {
		typ, id := entryTarget(e)
		if drop[i] {
			held[typ+"/"+id] = true
			continue
		}
		if typ != "ServiceRequest" || id == "" {
			continue
		}
		status, err := storedStatus(ctx, tx, typ, id)
		if err != nil {
			return err
		}
		if status == "" {
			continue
		}
		o, err := fhirjson.ParseObject(e.Resource)
		if err != nil {
			return fmt.Errorf("keep referral state: %s/%s: %w", typ, id, err)
		}
		pl.entries[i].Resource = o.Set("status", fhirjson.Quote(status)).Bytes()
		held[typ+"/"+id] = true
	}
	pl.keys = slices.DeleteFunc(pl.keys, func(k string) bool { return held[k] })
	return pl.drop(drop, literal)
}

// storedStatus returns the status of the stored resource, or "" when there is none.
func storedStatus(ctx context.Context, tx store.Tx, typ, id string) (string, error) {
	r, err := tx.Read(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s/%s: %w", typ, id, err)
	}
	if r.Deleted {
		return "", nil
	}
	var v struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		return "", fmt.Errorf("read %s/%s: %w", typ, id, err)
	}
	return v.Status, nil
}
