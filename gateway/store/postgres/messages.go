package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

const (
	messageColumns = sqlsearch.MessageColumns

	selectMessage          = "SELECT " + messageColumns + " FROM messages WHERE id = $1"
	selectMessageForUpdate = selectMessage + " FOR UPDATE"
	// The predicate repeats the partial unique index's, so that the index answers.
	selectAppliedMessage = "SELECT " + messageColumns + ` FROM messages
WHERE sender = $1 AND control_id = $2 AND status = 'applied' AND control_id <> ''`

	// upsertMessage inserts a message or, when its id exists, records a new outcome
	// ($12 attempts: zero keeps the stored count, or stores 1 for a new message).
	upsertMessage = `INSERT INTO messages (id, channel, sender, control_id, type, event_time, received, status, reason, raw, resources, attempts, charset)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, GREATEST($12::integer, 1), $13)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, reason = excluded.reason, resources = excluded.resources,
attempts = CASE WHEN $12::integer > 0 THEN $12::integer ELSE messages.attempts END
RETURNING ` + messageColumns

	// lockEventTime creates the key's row if needed and locks it: a concurrent
	// transaction's insert of the same key makes this one wait for it to end and then
	// return what it committed, which a SELECT ... FOR UPDATE of a missing row cannot.
	lockEventTime = `INSERT INTO event_times (key) VALUES ($1)
ON CONFLICT (key) DO UPDATE SET key = excluded.key RETURNING event_time`
	// One statement locks every key, in sorted order (the order of the rows
	// inserted), so that two messages with overlapping keys cannot deadlock.
	lockEventTimes = `INSERT INTO event_times (key) SELECT k FROM unnest($1::text[]) k ORDER BY k
ON CONFLICT (key) DO UPDATE SET key = excluded.key RETURNING key, event_time`
	// Sorted, as EventTimes locks them; the keys are distinct (ON CONFLICT DO UPDATE
	// cannot touch a row twice).
	setEventTimes = `INSERT INTO event_times (key, event_time) SELECT k, $2 FROM unnest($1::text[]) k ORDER BY k
ON CONFLICT (key) DO UPDATE SET event_time = GREATEST(event_times.event_time, excluded.event_time)`
)

func scanMessage(row pgx.Row) (store.Message, error) {
	return sqlsearch.ScanMessage(row.Scan, textArray)
}

// textArray decodes the resources column: pgx has scanned the text[] already.
func textArray(list []string) ([]string, error) { return list, nil }

func readMessage(ctx context.Context, q querier, sql, id string) (store.Message, error) {
	m, err := scanMessage(q.QueryRow(ctx, sql, id))
	if err != nil {
		return store.Message{}, sqlsearch.LookupErr("read message "+id, err)
	}
	return m, nil
}

func findAppliedMessage(ctx context.Context, q querier, sender, controlID string) (store.Message, error) {
	m, err := scanMessage(q.QueryRow(ctx, selectAppliedMessage, sender, controlID))
	if err != nil {
		return store.Message{}, sqlsearch.LookupErr("find applied message "+sender+" "+controlID, err)
	}
	return m, nil
}

func listMessages(ctx context.Context, db querier, q store.MessageQuery) (store.MessagePage, error) {
	stmt, count := sqlsearch.BuildListMessages(dialect, q)
	rows, err := db.Query(ctx, stmt.SQL, queryArgs(stmt.Args)...)
	if err != nil {
		return store.MessagePage{}, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	p, err := sqlsearch.ScanMessagePage(rows, count, textArray)
	if err != nil {
		return store.MessagePage{}, fmt.Errorf("list messages: %w", err)
	}
	return p, nil
}

// ReadMessage implements store.Reader.
func (s *Store) ReadMessage(ctx context.Context, id string) (store.Message, error) {
	return readMessage(ctx, s.pool, selectMessage, id)
}

// FindAppliedMessage implements store.Reader.
func (s *Store) FindAppliedMessage(ctx context.Context, sender, controlID string) (store.Message, error) {
	return findAppliedMessage(ctx, s.pool, sender, controlID)
}

// ListMessages implements store.Reader.
func (s *Store) ListMessages(ctx context.Context, q store.MessageQuery) (store.MessagePage, error) {
	return listMessages(ctx, s.pool, q)
}

// ReadMessage implements store.Reader; it locks the message row until the transaction
// ends.
func (t *tx) ReadMessage(ctx context.Context, id string) (store.Message, error) {
	return readMessage(ctx, t.tx, selectMessageForUpdate, id)
}

// FindAppliedMessage implements store.Reader.
func (t *tx) FindAppliedMessage(ctx context.Context, sender, controlID string) (store.Message, error) {
	return findAppliedMessage(ctx, t.tx, sender, controlID)
}

// ListMessages implements store.Reader.
func (t *tx) ListMessages(ctx context.Context, q store.MessageQuery) (store.MessagePage, error) {
	return listMessages(ctx, t.tx, q)
}

// PutMessage implements store.Tx in one statement.
func (t *tx) PutMessage(ctx context.Context, m store.Message) (store.Message, error) {
	out, err := t.putMessage(ctx, m)
	if err != nil {
		return store.Message{}, t.fail(err)
	}
	return out, nil
}

// fail records the first failed write, which Update returns even when fn ignores it:
// PostgreSQL has aborted the transaction anyway.
func (t *tx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

func (t *tx) putMessage(ctx context.Context, m store.Message) (store.Message, error) {
	if !store.ValidMessageStatus(m.Status) {
		return store.Message{}, fmt.Errorf("put message %s: invalid status %q", m.ID, m.Status)
	}
	if m.ID == "" {
		// Version 7: time-ordered, so new ids append to the id index.
		id, err := uuid.NewV7()
		if err != nil {
			return store.Message{}, fmt.Errorf("put message: new id: %w", err)
		}
		m.ID = id.String()
	}
	if m.Received.IsZero() {
		m.Received = t.s.now()
	}
	var eventTime *int64
	if !m.EventTime.IsZero() {
		us := sqlsearch.Micros(m.EventTime)
		eventTime = &us
	}
	raw, resources := m.Raw, m.Resources
	if raw == nil {
		raw = []byte{}
	}
	if resources == nil {
		resources = []string{}
	}
	out, err := scanMessage(t.tx.QueryRow(ctx, upsertMessage, m.ID, m.Channel, m.Sender, m.ControlID, m.Type,
		eventTime, sqlsearch.Micros(m.Received), m.Status, m.Reason, raw, resources, int32(min(max(m.Attempts, 0), 1<<30)), m.Charset))
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation {
			return store.Message{}, fmt.Errorf("put message %s: %s %s already applied: %w",
				m.ID, m.Sender, m.ControlID, errors.Join(store.ErrConflict, err))
		}
		return store.Message{}, fmt.Errorf("put message %s: %w", m.ID, err)
	}
	return out, nil
}

// EventTime implements store.Tx.
func (t *tx) EventTime(ctx context.Context, resourceKey string) (time.Time, error) {
	var us *int64
	if err := t.tx.QueryRow(ctx, lockEventTime, resourceKey).Scan(&us); err != nil {
		return time.Time{}, t.fail(fmt.Errorf("event time %s: %w", resourceKey, err))
	}
	if us == nil {
		return time.Time{}, nil
	}
	return sqlsearch.FromMicros(*us), nil
}

// EventTimes implements store.Tx in one statement.
func (t *tx) EventTimes(ctx context.Context, resourceKeys []string) ([]time.Time, error) {
	keys := slices.Clone(resourceKeys)
	slices.Sort(keys)
	keys = slices.Compact(keys) // one row may not be locked twice by one statement
	rows, err := t.tx.Query(ctx, lockEventTimes, keys)
	if err != nil {
		return nil, t.fail(fmt.Errorf("event times: %w", err))
	}
	got := make(map[string]time.Time, len(keys))
	for rows.Next() {
		var k string
		var us *int64
		if err := rows.Scan(&k, &us); err != nil {
			rows.Close()
			return nil, t.fail(fmt.Errorf("event times: %w", err))
		}
		if us != nil {
			got[k] = sqlsearch.FromMicros(*us)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, t.fail(fmt.Errorf("event times: %w", err))
	}
	out := make([]time.Time, len(resourceKeys))
	for i, k := range resourceKeys {
		out[i] = got[k]
	}
	return out, nil
}

// SetEventTimes implements store.Tx. It answers nothing, so it is queued with the
// Puts (see tx) and sent with them.
func (t *tx) SetEventTimes(ctx context.Context, resourceKeys []string, at time.Time) error {
	if at.IsZero() || len(resourceKeys) == 0 {
		return nil
	}
	if t.err != nil {
		return t.err
	}
	keys := slices.Compact(slices.Sorted(slices.Values(resourceKeys)))
	t.pending = append(t.pending, queued{what: fmt.Sprintf("set event times of %d resources", len(keys)),
		sql: setEventTimes, args: []any{keys, sqlsearch.Micros(at)}})
	return nil
}
