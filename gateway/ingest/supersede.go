package ingest

import (
	"context"
	"fmt"

	"github.com/shch/fhirgw/gateway/store"
)

// supersede marks the failed copies (error or rejected) of the message just applied,
// same sender and control id, as solved: their Reason gets store.SupersededPrefix and
// the applied message's id in front, and their status stays as it was, so that the
// error queue (status=error&superseded=false) lists only what still needs someone.
// It runs in the apply transaction, under the lock on sender and control id.
func supersede(ctx context.Context, tx store.Tx, applied store.Message) error {
	if applied.ControlID == "" {
		return nil
	}
	no := false
	q := store.MessageQuery{Sender: applied.Sender, ControlID: applied.ControlID, Superseded: &no, Count: 100}
	var stale []store.Message
	for {
		page, err := tx.ListMessages(ctx, q)
		if err != nil {
			return fmt.Errorf("list failed copies: %w", err)
		}
		for _, m := range page.Messages {
			// The filter on Sender is off when it is empty, and without '^' would
			// match every facility of the application; a copy is also of the same
			// message type (a sender whose counter restarted reuses control ids for
			// other messages, whose failures stay in the queue).
			if m.ID != applied.ID && m.Sender == applied.Sender && m.Type == applied.Type &&
				(m.Status == store.MessageError || m.Status == store.MessageRejected) {
				stale = append(stale, m)
			}
		}
		if page.Next == 0 {
			break
		}
		q.Before = page.Next
	}
	for _, m := range stale {
		m.Reason = store.SupersededPrefix + applied.ID + ": " + m.Reason
		m.Attempts = 0 // keep the count
		if _, err := tx.PutMessage(ctx, m); err != nil {
			return fmt.Errorf("mark message %s superseded: %w", m.ID, err)
		}
	}
	return nil
}
