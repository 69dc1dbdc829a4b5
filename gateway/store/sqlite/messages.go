package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

const (
	messageColumns = sqlsearch.MessageColumns

	selectMessage = "SELECT " + messageColumns + " FROM messages WHERE id = ?1"
	// The predicate repeats the partial unique index's, so that the index answers.
	selectAppliedMessage = "SELECT " + messageColumns + ` FROM messages
WHERE sender = ?1 AND control_id = ?2 AND status = 'applied' AND control_id <> ''`

	// upsertMessage inserts a message or, when its id exists, records a new outcome
	// (?12 attempts: zero keeps the stored count, or stores 1 for a new message).
	upsertMessage = `INSERT INTO messages (id, channel, sender, control_id, type, event_time, received, status, reason, raw, resources, attempts, charset)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, max(?12, 1), ?13)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, reason = excluded.reason, resources = excluded.resources,
attempts = CASE WHEN ?12 > 0 THEN ?12 ELSE attempts END
RETURNING ` + messageColumns

	selectEventTime = "SELECT event_time FROM event_times WHERE key = ?1"
	// SQLite's max() is NULL when an argument is; the watermark only moves forward.
	setEventTime = `INSERT INTO event_times (key, event_time) VALUES (?1, ?2)
ON CONFLICT (key) DO UPDATE SET event_time = CASE
WHEN event_time IS NULL OR excluded.event_time > event_time THEN excluded.event_time ELSE event_time END`
)

func scanMessage(row scanner) (store.Message, error) {
	return sqlsearch.ScanMessage(row.Scan, decodeResources)
}

// decodeResources decodes the resources column, a JSON array.
func decodeResources(s string) ([]string, error) {
	var list []string
	err := json.Unmarshal([]byte(s), &list)
	return list, err
}

func listMessages(ctx context.Context, query queryFunc, q store.MessageQuery) (store.MessagePage, error) {
	stmt, count := sqlsearch.BuildListMessages(sqlsearch.SQLite, q)
	rows, err := query(ctx, stmt)
	if err != nil {
		return store.MessagePage{}, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	p, err := sqlsearch.ScanMessagePage(rows, count, decodeResources)
	if err != nil {
		return store.MessagePage{}, fmt.Errorf("list messages: %w", err)
	}
	return p, nil
}

// ReadMessage implements store.Reader.
func (s *Store) ReadMessage(ctx context.Context, id string) (store.Message, error) {
	st, err := s.stmts(ctx)
	if err != nil {
		return store.Message{}, err
	}
	m, err := scanMessage(st.readMessage.QueryRowContext(ctx, id))
	if err != nil {
		return store.Message{}, sqlsearch.LookupErr("read message "+id, err)
	}
	return m, nil
}

// FindAppliedMessage implements store.Reader.
func (s *Store) FindAppliedMessage(ctx context.Context, sender, controlID string) (store.Message, error) {
	st, err := s.stmts(ctx)
	if err != nil {
		return store.Message{}, err
	}
	m, err := scanMessage(st.findApplied.QueryRowContext(ctx, sender, controlID))
	if err != nil {
		return store.Message{}, sqlsearch.LookupErr("find applied message "+sender+" "+controlID, err)
	}
	return m, nil
}

// ListMessages implements store.Reader.
func (s *Store) ListMessages(ctx context.Context, q store.MessageQuery) (store.MessagePage, error) {
	return listMessages(ctx, s.messages.query, q)
}

// ReadMessage implements store.Reader. It needs no row lock: the transaction excludes
// every other writer.
func (t *tx) ReadMessage(ctx context.Context, id string) (store.Message, error) {
	m, err := scanMessage(t.tx.StmtContext(ctx, t.st.txReadMessage).QueryRowContext(ctx, id))
	if err != nil {
		return store.Message{}, sqlsearch.LookupErr("read message "+id, err)
	}
	return m, nil
}

// FindAppliedMessage implements store.Reader.
func (t *tx) FindAppliedMessage(ctx context.Context, sender, controlID string) (store.Message, error) {
	m, err := scanMessage(t.tx.StmtContext(ctx, t.st.txFindApplied).QueryRowContext(ctx, sender, controlID))
	if err != nil {
		return store.Message{}, sqlsearch.LookupErr("find applied message "+sender+" "+controlID, err)
	}
	return m, nil
}

// ListMessages implements store.Reader.
func (t *tx) ListMessages(ctx context.Context, q store.MessageQuery) (store.MessagePage, error) {
	query := func(ctx context.Context, s sqlsearch.Statement) (*sql.Rows, error) {
		return t.tx.QueryContext(ctx, s.SQL, s.Args...)
	}
	return listMessages(ctx, query, q)
}

// PutMessage implements store.Tx.
func (t *tx) PutMessage(ctx context.Context, m store.Message) (store.Message, error) {
	out, err := t.putMessage(ctx, m)
	if err != nil {
		// As after a failed Put, nothing of the transaction may commit: the caller
		// answers a conflict with the first message's acknowledgement instead.
		if t.err == nil {
			t.err = err
		}
		return store.Message{}, err
	}
	return out, nil
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
	var eventTime any // NULL when absent
	if !m.EventTime.IsZero() {
		eventTime = sqlsearch.Micros(m.EventTime)
	}
	raw := m.Raw
	if raw == nil {
		raw = []byte{}
	}
	resources := m.Resources
	if resources == nil {
		resources = []string{}
	}
	resJSON, err := json.Marshal(resources)
	if err != nil {
		return store.Message{}, fmt.Errorf("put message %s: %w", m.ID, err)
	}
	out, err := scanMessage(t.tx.StmtContext(ctx, t.st.upsertMessage).QueryRowContext(ctx,
		m.ID, m.Channel, m.Sender, m.ControlID, m.Type, eventTime, sqlsearch.Micros(m.Received),
		m.Status, m.Reason, raw, string(resJSON), max(m.Attempts, 0), m.Charset))
	if err != nil {
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
			return store.Message{}, fmt.Errorf("put message %s: %s %s already applied: %w",
				m.ID, m.Sender, m.ControlID, errors.Join(store.ErrConflict, err))
		}
		return store.Message{}, fmt.Errorf("put message %s: %w", m.ID, err)
	}
	return out, nil
}

// EventTime implements store.Tx. The transaction already holds the database's write
// lock, so the key needs no lock of its own.
func (t *tx) EventTime(ctx context.Context, resourceKey string) (time.Time, error) {
	var us sql.NullInt64
	err := t.tx.StmtContext(ctx, t.st.eventTime).QueryRowContext(ctx, resourceKey).Scan(&us)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("event time %s: %w", resourceKey, err)
	}
	if !us.Valid {
		return time.Time{}, nil
	}
	return sqlsearch.FromMicros(us.Int64), nil
}

// EventTimes implements store.Tx.
func (t *tx) EventTimes(ctx context.Context, resourceKeys []string) ([]time.Time, error) {
	out := make([]time.Time, len(resourceKeys))
	for i, k := range resourceKeys {
		at, err := t.EventTime(ctx, k)
		if err != nil {
			return nil, err
		}
		out[i] = at
	}
	return out, nil
}

// SetEventTimes implements store.Tx.
func (t *tx) SetEventTimes(ctx context.Context, resourceKeys []string, at time.Time) error {
	if at.IsZero() {
		return nil
	}
	stmt := t.tx.StmtContext(ctx, t.st.setEventTime)
	for _, k := range resourceKeys {
		if _, err := stmt.ExecContext(ctx, k, sqlsearch.Micros(at)); err != nil {
			err = fmt.Errorf("set event time %s: %w", k, err)
			if t.err == nil {
				t.err = err
			}
			return err
		}
	}
	return nil
}
