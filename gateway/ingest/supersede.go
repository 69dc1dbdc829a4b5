package ingest

import (
	"context"
	"fmt"
	"strings"

	"github.com/shch/fhirgw/gateway/store"
)

// lockMessage takes the lock that the copies of one message (sender and control id)
// share, so that they are applied, recorded and superseded one at a time, and, for a
// stored message (a replay), its row, which it returns.
func lockMessage(ctx context.Context, tx store.Tx, rec store.Message) (store.Message, error) {
	if err := tx.Lock(ctx, "ingest:message:"+rec.Sender+"\x00"+rec.ControlID); err != nil {
		return store.Message{}, fmt.Errorf("lock message: %w", err)
	}
	if rec.ID == "" {
		return store.Message{}, nil
	}
	cur, err := tx.ReadMessage(ctx, rec.ID) // locks the row
	if err != nil {
		return store.Message{}, fmt.Errorf("lock message row: %w", err)
	}
	return cur, nil
}

// copies lists the stored messages with rec's sender and control id, newest first:
// what both the duplicate check and superseding look at, read once. An empty control
// id identifies nothing and has none.
func copies(ctx context.Context, tx store.Tx, rec store.Message) ([]store.Message, error) {
	if rec.ControlID == "" {
		return nil, nil
	}
	var out []store.Message
	q := store.MessageQuery{Sender: rec.Sender, ControlID: rec.ControlID, Count: 100}
	for {
		page, err := tx.ListMessages(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("list copies of the message: %w", err)
		}
		for _, m := range page.Messages {
			// The filter on Sender is off when it is empty.
			if m.Sender == rec.Sender {
				out = append(out, m)
			}
		}
		if page.Next == 0 {
			return out, nil
		}
		q.Before = page.Next
	}
}

// appliedCopy returns the applied message among cs (there is at most one).
func appliedCopy(cs []store.Message) (store.Message, bool) {
	for _, m := range cs {
		if m.Status == store.MessageApplied {
			return m, true
		}
	}
	return store.Message{}, false
}

// superseded reports whether m failed and a copy of it was applied since.
func superseded(m *store.Message) bool { return strings.HasPrefix(m.Reason, store.SupersededPrefix) }

// supersede marks the failed copies (error or rejected) of the message just applied
// as solved: their Reason gets store.SupersededPrefix and the applied message's id in
// front, and their status stays as it was, so that the error queue
// (status=error&superseded=false) lists only what still needs someone. A copy is also
// of the same message type: a sender whose counter restarted reuses control ids for
// other messages, whose failures stay in the queue. It runs in the apply transaction,
// under lockMessage.
func supersede(ctx context.Context, tx store.Tx, applied store.Message, cs []store.Message) error {
	for _, m := range cs {
		if m.ID == applied.ID || m.Type != applied.Type || superseded(&m) ||
			m.Status != store.MessageError && m.Status != store.MessageRejected {
			continue
		}
		m.Reason = store.SupersededPrefix + applied.ID + ": " + m.Reason
		m.Attempts = 0 // keep the count
		if _, err := tx.PutMessage(ctx, m); err != nil {
			return fmt.Errorf("mark message %s superseded: %w", m.ID, err)
		}
	}
	return nil
}
