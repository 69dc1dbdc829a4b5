package sqlsearch

import (
	"fmt"
	"strings"

	"github.com/shch/fhirgw/gateway/store"
)

// MessageColumns are the columns of the messages table that message listings select,
// in the order both backends scan them.
const MessageColumns = "id, channel, sender, control_id, type, event_time, received, status, reason, raw, resources, attempts, seq, charset"

// BuildListMessages translates a message listing, newest first. It asks for one row
// more than the page, to know whether another page follows, and returns the page size.
func BuildListMessages(d Dialect, q store.MessageQuery) (Statement, int) {
	count := q.Count
	if count <= 0 {
		count = store.DefaultMessageCount
	}
	b := builder{d: d}
	var where []string
	add := func(cond string, v any) { where = append(where, cond+" "+b.arg(v)) }
	if q.Status != "" {
		add("status =", q.Status)
	}
	// A value without a component separator also matches the values it is the first
	// component of ("ADT" every "ADT^…"): a range under the binary collation both
	// stores use ('_' follows '^'). The column's index finds the rows, but they are
	// sorted by seq for each page, which is fine for an operator's listing and not
	// for a hot path (use the exact value there).
	addHead := func(col, v string) {
		if strings.Contains(v, "^") {
			add(col+" =", v)
			return
		}
		where = append(where, fmt.Sprintf("(%s = %s OR (%s >= %s AND %s < %s))", col, b.arg(v), col, b.arg(v+"^"), col, b.arg(v+"_")))
	}
	if q.Sender != "" {
		addHead("sender", q.Sender)
	}
	if q.Type != "" {
		addHead("type", q.Type)
	}
	if q.Channel != "" {
		add("channel =", q.Channel)
	}
	if q.ControlID != "" {
		add("control_id =", q.ControlID)
	}
	if q.Superseded != nil {
		// The prefix holds neither '%' nor '_'.
		op := "reason NOT LIKE"
		if *q.Superseded {
			op = "reason LIKE"
		}
		add(op, store.SupersededPrefix+"%")
	}
	if !q.Since.IsZero() {
		add("received >=", Micros(q.Since))
	}
	if !q.Until.IsZero() {
		add("received <", Micros(q.Until))
	}
	if q.Before > 0 {
		add("seq <", q.Before)
	}
	var sb strings.Builder
	sb.WriteString("SELECT " + MessageColumns + " FROM messages")
	if len(where) > 0 {
		sb.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	sb.WriteString(" ORDER BY seq DESC LIMIT " + b.arg(count+1))
	return Statement{SQL: sb.String(), Args: b.args}, count
}

// ScanMessage reads one row of MessageColumns through scan (the Scan method of either
// driver's row or rows). The drivers store the resources column differently (text[] in
// PostgreSQL, a JSON array in SQLite): it is scanned into an R, which decode turns
// into the list.
func ScanMessage[R any](scan func(dest ...any) error, decode func(R) ([]string, error)) (store.Message, error) {
	var m store.Message
	var eventTime *int64 // NULL: absent
	var received int64
	var resources R
	if err := scan(&m.ID, &m.Channel, &m.Sender, &m.ControlID, &m.Type, &eventTime, &received,
		&m.Status, &m.Reason, &m.Raw, &resources, &m.Attempts, &m.Seq, &m.Charset); err != nil {
		return store.Message{}, err
	}
	if eventTime != nil {
		m.EventTime = FromMicros(*eventTime)
	}
	m.Received = FromMicros(received)
	list, err := decode(resources)
	if err != nil {
		return store.Message{}, fmt.Errorf("message %s: resources: %w", m.ID, err)
	}
	if len(list) > 0 {
		m.Resources = list
	}
	if m.Raw == nil {
		m.Raw = []byte{}
	}
	return m, nil
}

// ScanMessagePage reads the rows of a BuildListMessages statement into a page of at
// most count messages (ScanMessage describes decode).
func ScanMessagePage[R any](rows Rows, count int, decode func(R) ([]string, error)) (store.MessagePage, error) {
	var p store.MessagePage
	for rows.Next() {
		m, err := ScanMessage(rows.Scan, decode)
		if err != nil {
			return store.MessagePage{}, err
		}
		p.Messages = append(p.Messages, m)
	}
	if err := rows.Err(); err != nil {
		return store.MessagePage{}, err
	}
	if len(p.Messages) > count {
		p.Messages = p.Messages[:count]
		p.Next = p.Messages[count-1].Seq
	}
	return p, nil
}
