package ingest

import (
	"context"
	"fmt"
	"strings"

	"github.com/shch/fhirgw/gateway/store"
)

// cutNote ends the reason of a message stored cut short, which Replay refuses.
const cutNote = "bytes are kept"

// cut reports whether m was stored cut short by RejectOversize.
func cut(m *store.Message) bool {
	return m.Status == store.MessageRejected && strings.HasSuffix(m.Reason, cutNote)
}

// RejectOversize records a message that the transport cut short because it exceeds
// the transport's size limit: in.Raw holds the bytes it kept (its first limit bytes),
// size is the whole message's length. The message is stored as rejected with those
// bytes as Raw, so that it is on record even though it cannot be processed, and
// answered with an AR (CR in enhanced mode) built from its MSH when the kept bytes
// start with one that parses, else with an empty MSA-2 as for any unparsable message.
// Like Process, it never returns without an ACK.
func (p *Pipeline) RejectOversize(ctx context.Context, in Inbound, size int64) Outcome {
	j := p.newJob(in, nil)
	// Parsed only for the header (sender, control id, type, acknowledgment mode): the
	// content is incomplete whether or not it parses, so it is never mapped.
	p.parse(j)
	r := fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes; the first %d %s", size, len(in.Raw), len(in.Raw), cutNote)
	// AR: the message is refused for its size, not for what it says. Table 0357 has no
	// condition for a message too large (104 "Value too long", v2.7+, is about one field
	// and unknown to older senders), so ERR-3 is 207, the table's catch-all for errors
	// the other codes do not cover, and ERR-8 says what happened.
	f := &failure{ack: "AR", reason: r, err: errDetail{Code: codeInternalError, Severity: "E", Text: r}}
	out := p.record(ctx, j, f)
	p.acknowledge(j, &out, f)
	p.logOutcome(ctx, j, out, "bytes", size, "kept", len(in.Raw))
	return out
}
