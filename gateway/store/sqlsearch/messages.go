package sqlsearch

import (
	"strings"

	"github.com/shch/fhirgw/gateway/store"
)

// MessageColumns are the columns of the messages table that message listings select,
// in the order both backends scan them.
const MessageColumns = "id, channel, sender, control_id, type, event_time, received, status, reason, raw, resources, attempts, seq"

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
	if q.Sender != "" {
		add("sender =", q.Sender)
	}
	if q.Type != "" {
		add("type =", q.Type)
	}
	if q.Channel != "" {
		add("channel =", q.Channel)
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
