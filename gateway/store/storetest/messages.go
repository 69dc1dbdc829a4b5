package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/shch/fhirgw/gateway/store"
)

// adtGB18030 is an ADT^A01 from a Chinese HIS as it arrives over MLLP: GB18030 text
// (not valid UTF-8) between the 0x0B and 0x1C 0x0D frame bytes, segments ended by CR.
func adtGB18030(t *testing.T, controlID string) []byte {
	t.Helper()
	msg := strings.Join([]string{
		`MSH|^~\&|HIS|人民医院|FHIRGW|区域平台|20240301080000||ADT^A01^ADT_A01|` + controlID + `|P|2.5|||||CHN|GB18030`,
		"EVN|A01|20240301075500",
		"PID|1||110101199003070011^^^CN^NNCHN||张三^^^^^^L||19900307|M|||北京市东城区^^北京市",
		"PV1|1|I|内科^301^1",
	}, "\r") + "\r"
	enc, err := simplifiedchinese.GB18030.NewEncoder().String(msg)
	if err != nil {
		t.Fatalf("encode GB18030: %v", err)
	}
	raw := append([]byte{0x0B}, enc...)
	raw = append(raw, 0x1C, 0x0D)
	if utf8.Valid(raw) {
		t.Fatal("the GB18030 fixture is valid UTF-8; it would not test byte preservation")
	}
	return raw
}

func putMessage(t *testing.T, s store.Store, m store.Message) store.Message {
	t.Helper()
	var out store.Message
	err := s.Update(context.Background(), func(ctx context.Context, tx store.Tx) error {
		var err error
		out, err = tx.PutMessage(ctx, m)
		return err
	})
	if err != nil {
		t.Fatalf("put message %s %s: %v", m.Sender, m.ControlID, err)
	}
	return out
}

// sameMessage compares every field the store keeps.
func sameMessage(a, b store.Message) bool {
	return a.ID == b.ID && a.Channel == b.Channel && a.Sender == b.Sender && a.ControlID == b.ControlID &&
		a.Type == b.Type && a.EventTime.Equal(b.EventTime) && a.Received.Equal(b.Received) &&
		a.Status == b.Status && a.Reason == b.Reason && bytes.Equal(a.Raw, b.Raw) &&
		slices.Equal(a.Resources, b.Resources) && a.Attempts == b.Attempts && a.Seq == b.Seq &&
		a.Charset == b.Charset
}

func testMessagePutRead(t *testing.T, s store.Store) {
	ctx := context.Background()
	raw := adtGB18030(t, "MSG00001")
	// Nanoseconds that the store truncates to microseconds.
	eventTime := base.Add(-5*time.Minute + 123456789*time.Nanosecond)
	received := base.Add(987654321 * time.Nanosecond).In(time.FixedZone("CST", 8*3600))
	in := store.Message{
		Channel: "mllp", Sender: "HIS^人民医院", ControlID: "MSG00001", Type: "ADT^A01",
		EventTime: eventTime, Received: received, Status: store.MessageApplied, Raw: raw,
		Resources: []string{"Patient/p1/_history/1", "Encounter/e1/_history/1"}, Charset: "GB18030",
	}
	var first store.Message
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if first, err = tx.PutMessage(ctx, in); err != nil {
			return err
		}
		// The transaction reads its own writes.
		got, err := tx.ReadMessage(ctx, first.ID)
		if err != nil {
			return err
		}
		if !sameMessage(got, first) {
			return fmt.Errorf("read in the transaction = %+v, want %+v", got, first)
		}
		p, err := tx.ListMessages(ctx, store.MessageQuery{})
		if err != nil {
			return err
		}
		if len(p.Messages) != 1 || p.Messages[0].ID != first.ID {
			return fmt.Errorf("list in the transaction = %d messages", len(p.Messages))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == "" || first.Seq <= 0 || first.Attempts != 1 {
		t.Errorf("stored message: id %q, seq %d, attempts %d; want an id, seq > 0, attempts 1", first.ID, first.Seq, first.Attempts)
	}
	want := in
	want.ID, want.Seq, want.Attempts = first.ID, first.Seq, 1
	want.EventTime = eventTime.Truncate(time.Microsecond)
	want.Received = received.Truncate(time.Microsecond)
	got, err := s.ReadMessage(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !sameMessage(got, want) {
		t.Errorf("ReadMessage = %+v\nwant %+v", got, want)
	}
	if !bytes.Equal(got.Raw, raw) {
		t.Errorf("raw bytes changed in the store:\n got % x\nwant % x", got.Raw, raw)
	}
	if got.Received.Location() != time.UTC || got.EventTime.Location() != time.UTC {
		t.Errorf("times in %v and %v, want UTC", got.Received.Location(), got.EventTime.Location())
	}

	// A message refused before parsing: no event time, no resources, no Received (the
	// store's clock), empty raw, and an id of the caller's choosing.
	before := time.Now().Add(-time.Second)
	second := putMessage(t, s, store.Message{ID: "caller-chosen", Channel: "http", Status: store.MessageRejected,
		Reason: "MSH segment missing"})
	after := time.Now().Add(time.Second)
	got, err = s.ReadMessage(ctx, "caller-chosen")
	if err != nil {
		t.Fatal(err)
	}
	if !sameMessage(got, second) {
		t.Errorf("ReadMessage = %+v, want what PutMessage returned, %+v", got, second)
	}
	if !got.EventTime.IsZero() || got.Resources != nil || len(got.Raw) != 0 || got.Reason != "MSH segment missing" {
		t.Errorf("rejected message = %+v", got)
	}
	if got.Received.Before(before) || got.Received.After(after) {
		t.Errorf("Received = %v, want the store's clock (between %v and %v)", got.Received, before, after)
	}
	if got.Seq <= first.Seq {
		t.Errorf("seq %d after %d, want increasing", got.Seq, first.Seq)
	}

	third := putMessage(t, s, store.Message{Channel: "mllp", Status: store.MessageError, Raw: []byte("x")})
	if third.ID == first.ID || third.ID == "" {
		t.Errorf("assigned ids %q and %q, want distinct", first.ID, third.ID)
	}
	if _, err := s.ReadMessage(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadMessage missing: %v, want ErrNotFound", err)
	}
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ReadMessage(ctx, "nope")
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadMessage missing in a transaction: %v, want ErrNotFound", err)
	}
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.PutMessage(ctx, store.Message{Status: "done", Raw: []byte("x")})
		return err
	})
	if err == nil {
		t.Error("PutMessage with an unknown status succeeded")
	}
}

func testMessageOutcomeUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	raw := adtGB18030(t, "MSG00002")
	orig := putMessage(t, s, store.Message{Channel: "mllp", Sender: "HIS^人民医院", ControlID: "MSG00002", Type: "ADT^A01",
		Received: base, Status: store.MessageError, Reason: "PID-3 missing", Raw: raw, Charset: "GB18030"})
	later := putMessage(t, s, store.Message{Channel: "mllp", Status: store.MessageRejected, Received: base.Add(time.Minute), Raw: []byte("later")})

	// A replay: read the message in the transaction, apply it, record the new outcome.
	// Raw, Received and the MSH fields given here differ and must be ignored.
	var replayed store.Message
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		m, err := tx.ReadMessage(ctx, orig.ID)
		if err != nil {
			return err
		}
		m.Status, m.Reason, m.Attempts = store.MessageApplied, "", m.Attempts+1
		m.Resources = []string{"Patient/p2/_history/1"}
		m.Raw, m.Received, m.Sender, m.Type = []byte("changed"), base.Add(time.Hour), "OTHER", "ORU^R01"
		m.Charset = "UTF-8"
		replayed, err = tx.PutMessage(ctx, m)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadMessage(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := orig
	want.Status, want.Reason, want.Attempts, want.Resources = store.MessageApplied, "", 2, []string{"Patient/p2/_history/1"}
	if !sameMessage(got, want) {
		t.Errorf("after replay = %+v\nwant %+v", got, want)
	}
	if !sameMessage(replayed, got) {
		t.Errorf("PutMessage returned %+v, the store holds %+v", replayed, got)
	}
	if !bytes.Equal(got.Raw, raw) {
		t.Error("raw changed by an outcome update")
	}
	// Attempts zero keeps the count; the outcome still changes.
	putMessage(t, s, store.Message{ID: orig.ID, Status: store.MessageError, Reason: "again"})
	got, err = s.ReadMessage(ctx, orig.ID)
	if err != nil || got.Attempts != 2 || got.Status != store.MessageError || got.Reason != "again" || got.Resources != nil {
		t.Errorf("after an update without attempts = %+v, %v", got, err)
	}
	// The listing order is that of arrival, not of the last update.
	p, err := s.ListMessages(ctx, store.MessageQuery{})
	if err != nil || len(p.Messages) != 2 || p.Messages[0].ID != later.ID {
		t.Errorf("list after update: %v, %v; want %s first", msgIDs(p.Messages), err, later.ID)
	}
}

func msgIDs(ms []store.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// headMatch is MessageQuery's rule for Sender and Type: equal, or, for a filter
// without '^', its first component.
func headMatch(v, filter string) bool {
	return filter == "" || v == filter || !strings.Contains(filter, "^") && strings.HasPrefix(v, filter+"^")
}

func testMessageList(t *testing.T, s store.Store) {
	ctx := context.Background()
	statuses := []string{store.MessageApplied, store.MessageError, store.MessageRejected, store.MessageDuplicate, store.MessageApplied}
	senders := []string{"HIS^人民医院", "LIS^检验科", "RIS^放射科", "HIS2^二院"}
	types := []string{"ADT^A01", "ADT^A08", "ORU^R01", "ADT^A01"}
	channels := []string{"mllp", "http"}
	var all []store.Message // in insertion (seq) order
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		for i := range 24 {
			// Control ids repeat (C000-C011, never on two applied messages), and some
			// failures are superseded.
			reason := ""
			if st := statuses[i%len(statuses)]; st == store.MessageError || st == store.MessageRejected {
				reason = "cannot apply"
				if i%3 == 0 {
					reason = store.SupersededPrefix + "m1: cannot apply"
				}
			}
			m, err := tx.PutMessage(ctx, store.Message{
				Channel: channels[i%len(channels)], Sender: senders[i%len(senders)],
				ControlID: fmt.Sprintf("C%03d", i%12), Type: types[i%len(types)],
				Received: base.Add(time.Duration(i) * time.Minute), Status: statuses[i%len(statuses)],
				Reason: reason, Raw: fmt.Appendf(nil, "MSH|%d", i),
			})
			if err != nil {
				return err
			}
			all = append(all, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// want is the reference answer: the fixture filtered in Go, newest first.
	want := func(q store.MessageQuery) []string {
		var out []string
		for _, m := range slices.Backward(all) {
			if (q.Status == "" || m.Status == q.Status) && headMatch(m.Sender, q.Sender) &&
				headMatch(m.Type, q.Type) && (q.Channel == "" || m.Channel == q.Channel) &&
				(q.Since.IsZero() || !m.Received.Before(q.Since)) && (q.Until.IsZero() || m.Received.Before(q.Until)) &&
				(q.Before == 0 || m.Seq < q.Before) && (q.ControlID == "" || m.ControlID == q.ControlID) &&
				(q.Superseded == nil || *q.Superseded == strings.HasPrefix(m.Reason, store.SupersededPrefix)) {
				out = append(out, m.ID)
			}
		}
		return out
	}
	list := func(r store.Reader, q store.MessageQuery) []string {
		t.Helper()
		var out []string
		for page := 0; ; page++ {
			p, err := r.ListMessages(ctx, q)
			if err != nil {
				t.Fatalf("list %+v: %v", q, err)
			}
			if len(p.Messages) > q.Count {
				t.Fatalf("page of %d messages, count %d", len(p.Messages), q.Count)
			}
			out = append(out, msgIDs(p.Messages)...)
			if p.Next == 0 {
				return out
			}
			if page > 30 {
				t.Fatal("message paging does not end")
			}
			q.Before = p.Next
		}
	}
	yes, no := true, false
	tests := []struct {
		name  string
		q     store.MessageQuery
		empty bool
	}{
		{name: "all", q: store.MessageQuery{}},
		{name: "status", q: store.MessageQuery{Status: store.MessageApplied}},
		{name: "status rejected", q: store.MessageQuery{Status: store.MessageRejected}},
		{name: "sender", q: store.MessageQuery{Sender: "LIS^检验科"}},
		{name: "type", q: store.MessageQuery{Type: "ADT^A01"}},
		{name: "channel", q: store.MessageQuery{Channel: "http"}},
		{name: "since", q: store.MessageQuery{Since: base.Add(20 * time.Minute)}},
		{name: "until", q: store.MessageQuery{Until: base.Add(3 * time.Minute)}},
		{name: "window", q: store.MessageQuery{Since: base.Add(5 * time.Minute), Until: base.Add(15 * time.Minute)}},
		{name: "before", q: store.MessageQuery{Before: all[10].Seq}},
		{name: "status and sender", q: store.MessageQuery{Status: store.MessageApplied, Sender: "HIS^人民医院"}},
		{name: "type, channel and window", q: store.MessageQuery{Type: "ADT^A01", Channel: "mllp", Since: base.Add(4 * time.Minute), Until: base.Add(20 * time.Minute)}},
		{name: "every filter", q: store.MessageQuery{Status: store.MessageApplied, Sender: senders[0], Type: types[0], Channel: channels[0], Since: base, Until: base.Add(time.Hour), Before: all[23].Seq + 1}},
		{name: "no match", q: store.MessageQuery{Sender: "LIS^检验科", Type: "ADT^A08", Channel: "mllp"}, empty: true},
		{name: "sender's application", q: store.MessageQuery{Sender: "HIS"}},
		{name: "message code", q: store.MessageQuery{Type: "ADT"}},
		{name: "message code and status", q: store.MessageQuery{Type: "ORU", Status: store.MessageApplied}},
		{name: "unknown sender", q: store.MessageQuery{Sender: "HIS3"}, empty: true},
		{name: "a prefix is not a component", q: store.MessageQuery{Sender: "HI"}, empty: true},
		{name: "unknown event", q: store.MessageQuery{Type: "ADT^A0"}, empty: true},
		{name: "control id", q: store.MessageQuery{ControlID: "C002"}},
		{name: "sender and control id", q: store.MessageQuery{Sender: senders[2], ControlID: "C002"}},
		{name: "control id is exact", q: store.MessageQuery{ControlID: "C00"}, empty: true},
		{name: "superseded", q: store.MessageQuery{Superseded: &yes}},
		{name: "error queue", q: store.MessageQuery{Status: store.MessageError, Superseded: &no}},
		{name: "rejected, superseded", q: store.MessageQuery{Status: store.MessageRejected, Superseded: &yes}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := want(tc.q)
			if (len(w) == 0) != tc.empty {
				t.Fatalf("fixture gives %d matches; the case expects empty=%v", len(w), tc.empty)
			}
			for _, count := range []int{100, 3, 1} {
				q := tc.q
				q.Count = count
				if got := list(s, q); !slices.Equal(got, w) {
					t.Errorf("count %d: got %v\nwant %v", count, got, w)
				}
			}
			err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
				q := tc.q
				q.Count = 4
				if got := list(tx, q); !slices.Equal(got, w) {
					t.Errorf("in a transaction: got %v\nwant %v", got, w)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	// The listing returns whole messages.
	p, err := s.ListMessages(ctx, store.MessageQuery{Count: 1, Before: all[5].Seq + 1})
	if err != nil || len(p.Messages) != 1 || !sameMessage(p.Messages[0], all[5]) {
		t.Errorf("list one = %+v, %v; want %+v", p.Messages, err, all[5])
	}
}

func testMessageListDefaultCount(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = store.DefaultMessageCount + 5
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		for i := range n {
			if _, err := tx.PutMessage(ctx, store.Message{Channel: "file", Status: store.MessageError, Raw: fmt.Appendf(nil, "%d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.ListMessages(ctx, store.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != store.DefaultMessageCount || p.Next == 0 {
		t.Fatalf("first page: %d messages, next %d; want %d and more", len(p.Messages), p.Next, store.DefaultMessageCount)
	}
	for i := 1; i < len(p.Messages); i++ {
		if p.Messages[i].Seq >= p.Messages[i-1].Seq {
			t.Fatalf("not newest first: seq %d after %d", p.Messages[i].Seq, p.Messages[i-1].Seq)
		}
	}
	p, err = s.ListMessages(ctx, store.MessageQuery{Before: p.Next})
	if err != nil || len(p.Messages) != n-store.DefaultMessageCount || p.Next != 0 {
		t.Errorf("second page: %d messages, next %d, %v; want %d and no more", len(p.Messages), p.Next, err, n-store.DefaultMessageCount)
	}
}

func testFindAppliedMessage(t *testing.T, s store.Store) {
	ctx := context.Background()
	const sender, ctl = "HIS^人民医院", "MSG00003"
	for _, status := range []string{store.MessageError, store.MessageRejected, store.MessageDuplicate} {
		putMessage(t, s, store.Message{Channel: "mllp", Sender: sender, ControlID: ctl, Type: "ADT^A01", Status: status, Raw: []byte(status)})
	}
	putMessage(t, s, store.Message{Channel: "mllp", Sender: "LIS^检验科", ControlID: ctl, Status: store.MessageApplied, Raw: []byte("other sender")})
	if m, err := s.FindAppliedMessage(ctx, sender, ctl); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindAppliedMessage with no applied message = %+v, %v; want ErrNotFound", m, err)
	}
	applied := putMessage(t, s, store.Message{Channel: "mllp", Sender: sender, ControlID: ctl, Type: "ADT^A01",
		Status: store.MessageApplied, Raw: adtGB18030(t, ctl), Resources: []string{"Patient/p3/_history/1"}})
	got, err := s.FindAppliedMessage(ctx, sender, ctl)
	if err != nil || !sameMessage(got, applied) {
		t.Errorf("FindAppliedMessage = %+v, %v; want %+v", got, err, applied)
	}
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		got, err := tx.FindAppliedMessage(ctx, sender, ctl)
		if err != nil {
			return err
		}
		if got.ID != applied.ID {
			return fmt.Errorf("found %s, want %s", got.ID, applied.ID)
		}
		return nil
	})
	if err != nil {
		t.Errorf("FindAppliedMessage in a transaction: %v", err)
	}
	if _, err := s.FindAppliedMessage(ctx, sender, "MSG00004"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other control id: %v, want ErrNotFound", err)
	}
	// An empty MSH-10 identifies nothing: such messages may all be applied and are
	// never found as duplicates.
	putMessage(t, s, store.Message{Channel: "mllp", Sender: sender, Status: store.MessageApplied, Raw: []byte("a")})
	putMessage(t, s, store.Message{Channel: "mllp", Sender: sender, Status: store.MessageApplied, Raw: []byte("b")})
	if _, err := s.FindAppliedMessage(ctx, sender, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("empty control id: %v, want ErrNotFound", err)
	}
}

func testMessageAppliedOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	const sender, ctl = "HIS^人民医院", "MSG00005"
	msg := store.Message{Channel: "mllp", Sender: sender, ControlID: ctl, Type: "ADT^A01", Status: store.MessageApplied,
		Raw: adtGB18030(t, ctl), Resources: []string{"Patient/first/_history/1"}}
	first := putMessage(t, s, msg)

	// The same message applied again, with its resources: the whole transaction fails.
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.Put(ctx, res("Patient", "second", 1, base, `{}`), nil); err != nil {
			return err
		}
		if err := tx.SetEventTimes(ctx, []string{"Patient/second"}, base); err != nil {
			return err
		}
		_, err := tx.PutMessage(ctx, msg)
		return err
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second applied message: %v, want ErrConflict", err)
	}
	if _, err := s.Read(ctx, "Patient", "second"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("resource of the refused message committed: %v", err)
	}
	// A caller that ignores the conflict still commits nothing.
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		_, _ = tx.PutMessage(ctx, msg)
		return nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("Update after an ignored conflict = %v, want ErrConflict", err)
	}
	// Recorded as a duplicate instead, it is stored.
	dup := msg
	dup.Status, dup.Resources = store.MessageDuplicate, nil
	putMessage(t, s, dup)
	// A failed message that a replay would apply also conflicts, and keeps its outcome.
	failed := putMessage(t, s, store.Message{Channel: "mllp", Sender: sender, ControlID: ctl, Status: store.MessageError, Reason: "x", Raw: []byte("r")})
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.PutMessage(ctx, store.Message{ID: failed.ID, Status: store.MessageApplied, Attempts: 2})
		return err
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("replay applying an applied message: %v, want ErrConflict", err)
	}
	if got, err := s.ReadMessage(ctx, failed.ID); err != nil || got.Status != store.MessageError || got.Attempts != 1 {
		t.Errorf("failed message after refused replay = %+v, %v", got, err)
	}
	p, err := s.ListMessages(ctx, store.MessageQuery{Status: store.MessageApplied})
	if err != nil || len(p.Messages) != 1 || p.Messages[0].ID != first.ID {
		t.Errorf("applied messages = %v, %v; want only %s", msgIDs(p.Messages), err, first.ID)
	}
	p, err = s.ListMessages(ctx, store.MessageQuery{})
	if err != nil || len(p.Messages) != 3 {
		t.Errorf("%d messages stored, %v; want 3 (applied, duplicate, error)", len(p.Messages), err)
	}
}

// testMessageAppliedOnceConcurrent receives one message on several gateways at once:
// each checks for an applied copy, applies it if there is none, and answers a conflict
// by recording a duplicate. Exactly one applies it.
func testMessageAppliedOnceConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers = 6
	const sender, ctl = "HIS^人民医院", "MSG00006"
	raw := adtGB18030(t, ctl)
	var mu sync.Mutex
	outcome := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	// Workers that can run at once all check before any records: a store that runs
	// transactions concurrently then sees every one try to apply the message. One that
	// serialises them would never fill the barrier, hence the timeout.
	var checked sync.WaitGroup
	checked.Add(workers)
	allChecked := make(chan struct{})
	go func() { checked.Wait(); close(allChecked) }()
	for w := range workers {
		wg.Go(func() {
			<-start
			status := store.MessageApplied
			first := true
			err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
				status = store.MessageApplied
				if _, err := tx.FindAppliedMessage(ctx, sender, ctl); err == nil {
					status = store.MessageDuplicate
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if first {
					first = false
					checked.Done()
					select {
					case <-allChecked:
					case <-time.After(100 * time.Millisecond):
					}
				}
				m := store.Message{Channel: "mllp", Sender: sender, ControlID: ctl, Type: "ADT^A01", Status: status, Raw: raw}
				if status == store.MessageApplied {
					if err := tx.Put(ctx, res("Basic", fmt.Sprintf("w%d", w), 1, base, `{}`), nil); err != nil {
						return err
					}
					m.Resources = []string{fmt.Sprintf("Basic/w%d/_history/1", w)}
				}
				_, err := tx.PutMessage(ctx, m)
				return err
			})
			if errors.Is(err, store.ErrConflict) {
				status = "conflict"
				err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
					_, err := tx.PutMessage(ctx, store.Message{Channel: "mllp", Sender: sender, ControlID: ctl, Status: store.MessageDuplicate, Raw: raw})
					return err
				})
			}
			if err != nil {
				t.Errorf("worker %d: %v", w, err)
			}
			mu.Lock()
			outcome[status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	t.Logf("outcomes %v", outcome)
	if outcome[store.MessageApplied] != 1 || outcome[store.MessageApplied]+outcome[store.MessageDuplicate]+outcome["conflict"] != workers {
		t.Errorf("outcomes %v; want exactly one applied", outcome)
	}
	p, err := s.ListMessages(ctx, store.MessageQuery{Status: store.MessageApplied})
	if err != nil || len(p.Messages) != 1 {
		t.Fatalf("applied messages: %d, %v; want 1", len(p.Messages), err)
	}
	total := search(t, s, store.Query{Type: "Basic", Total: true})
	if total.Total != 1 {
		t.Errorf("%d resources written, want only those of the applied message", total.Total)
	}
	if r := p.Messages[0].Resources; len(r) != 1 || !strings.HasPrefix(r[0], "Basic/w") {
		t.Errorf("applied message resources = %v", r)
	}
}

func testMessageRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	kept := putMessage(t, s, store.Message{Channel: "mllp", Sender: "HIS", ControlID: "K", Status: store.MessageError, Reason: "kept", Raw: []byte("k")})
	boom := errors.New("boom")
	var id string
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		m, err := tx.PutMessage(ctx, store.Message{Channel: "mllp", Sender: "HIS", ControlID: "R", Status: store.MessageApplied, Raw: []byte("r")})
		if err != nil {
			return err
		}
		id = m.ID
		if _, err := tx.PutMessage(ctx, store.Message{ID: kept.ID, Status: store.MessageApplied, Attempts: 2}); err != nil {
			return err
		}
		if err := tx.SetEventTimes(ctx, []string{"Patient/r"}, base); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if _, err := s.ReadMessage(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("message of a rolled back transaction: %v, want ErrNotFound", err)
	}
	if _, err := s.FindAppliedMessage(ctx, "HIS", "R"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("applied message of a rolled back transaction found: %v", err)
	}
	if got, err := s.ReadMessage(ctx, kept.ID); err != nil || !sameMessage(got, kept) {
		t.Errorf("message updated in a rolled back transaction = %+v, %v; want %+v", got, err, kept)
	}
	p, err := s.ListMessages(ctx, store.MessageQuery{})
	if err != nil || len(p.Messages) != 1 {
		t.Errorf("list after rollback: %d messages, %v; want 1", len(p.Messages), err)
	}
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		at, err := tx.EventTime(ctx, "Patient/r")
		if err == nil && !at.IsZero() {
			err = fmt.Errorf("event time %v survived the rollback", at)
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
}

func testEventTime(t *testing.T, s store.Store) {
	ctx := context.Background()
	t1 := base.Add(123456789 * time.Nanosecond)
	eventTime := func(key string) time.Time {
		t.Helper()
		var at time.Time
		err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			at, err = tx.EventTime(ctx, key)
			return err
		})
		if err != nil {
			t.Fatalf("event time %s: %v", key, err)
		}
		return at
	}
	set := func(key string, at time.Time) {
		t.Helper()
		err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error { return tx.SetEventTimes(ctx, []string{key}, at) })
		if err != nil {
			t.Fatalf("set event time %s: %v", key, err)
		}
	}
	if at := eventTime("Patient/a"); !at.IsZero() {
		t.Errorf("event time of a new key = %v, want zero", at)
	}
	// Asking created nothing that reads as a time.
	if at := eventTime("Patient/a"); !at.IsZero() {
		t.Errorf("event time asked twice = %v, want zero", at)
	}
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.SetEventTimes(ctx, []string{"Patient/a"}, t1); err != nil {
			return err
		}
		at, err := tx.EventTime(ctx, "Patient/a")
		if err != nil {
			return err
		}
		if !at.Equal(t1.Truncate(time.Microsecond)) {
			return fmt.Errorf("event time in the transaction = %v, want %v", at, t1.Truncate(time.Microsecond))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := t1.Truncate(time.Microsecond)
	if at := eventTime("Patient/a"); !at.Equal(want) || at.Location() != time.UTC {
		t.Errorf("event time = %v, want %v UTC", at, want)
	}
	set("Patient/a", t1.Add(-time.Hour)) // older: the watermark stays
	set("Patient/a", time.Time{})        // zero: nothing
	if at := eventTime("Patient/a"); !at.Equal(want) {
		t.Errorf("after an older and a zero time: %v, want %v", at, want)
	}
	newer := t1.Add(time.Hour).Truncate(time.Microsecond)
	set("Patient/a", newer)
	if at := eventTime("Patient/a"); !at.Equal(newer) {
		t.Errorf("after a newer time: %v, want %v", at, newer)
	}
	if at := eventTime("Patient/b"); !at.IsZero() {
		t.Errorf("other key = %v, want zero", at)
	}
	set("Patient/b", base)
	if at := eventTime("Patient/b"); !at.Equal(base) {
		t.Errorf("Patient/b = %v, want %v", at, base)
	}
	if at := eventTime("Patient/a"); !at.Equal(newer) {
		t.Errorf("Patient/a after setting Patient/b = %v, want %v", at, newer)
	}
}

// testEventTimeSerialised checks that EventTime holds the key until the transaction
// ends: a second transaction asking for it sees what the first then set, so two
// messages for one resource cannot both pass the check against the old watermark.
func testEventTimeSerialised(t *testing.T, s store.Store) {
	checkEventTimeHeld(t, s, "Patient/serial", func(ctx context.Context, tx store.Tx, key string) (time.Time, error) {
		return tx.EventTime(ctx, key)
	})
}

// checkEventTimeHeld runs two transactions that ask for key's watermark with ask: the
// first sets it after asking, and the second, asking meanwhile, must see that value.
func checkEventTimeHeld(t *testing.T, s store.Store, key string, ask func(ctx context.Context, tx store.Tx, key string) (time.Time, error)) {
	t.Helper()
	ctx := context.Background()
	t2 := base.Add(time.Hour)
	asked := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			at, err := ask(ctx, tx, key)
			if err != nil || !at.IsZero() {
				return fmt.Errorf("first transaction: event time %v, %v", at, err)
			}
			close(asked)
			// Give the second transaction time to ask too: without the lock it would
			// read the watermark before this one sets it.
			time.Sleep(100 * time.Millisecond)
			return tx.SetEventTimes(ctx, []string{key}, t2)
		})
		if err != nil {
			t.Error(err)
		}
	})
	var second time.Time
	wg.Go(func() {
		select {
		case <-asked:
		case <-time.After(10 * time.Second):
			t.Error("first transaction never asked")
			return
		}
		err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			second, err = ask(ctx, tx, key)
			return err
		})
		if err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if !second.Equal(t2) {
		t.Errorf("second transaction saw %v, want %v set by the first", second, t2)
	}
}

// testEventTimes checks EventTimes: the watermarks in the order asked (duplicates and
// unknown keys included), and the keys held until the transaction ends, as EventTime.
func testEventTimes(t *testing.T, s store.Store) {
	ctx := context.Background()
	ta, tb := base.Add(time.Minute), base.Add(2*time.Minute)
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.SetEventTimes(ctx, []string{"Patient/ets-a"}, ta); err != nil {
			return err
		}
		return tx.SetEventTimes(ctx, []string{"Patient/ets-b"}, tb)
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Time
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		got, err = tx.EventTimes(ctx, []string{"Patient/ets-b", "Patient/ets-a", "Patient/ets-c", "Patient/ets-a"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{tb, ta, {}, ta}
	if len(got) != len(want) {
		t.Fatalf("EventTimes = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("EventTimes[%d] = %v, want %v", i, got[i], want[i])
		}
	}

	// Several keys at once, a duplicate among them: each advances, none moves back
	// (ets-b is newer than the time set), and the duplicate is no error.
	tc := base.Add(90 * time.Second)
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.SetEventTimes(ctx, []string{"Patient/ets-c", "Patient/ets-a", "Patient/ets-b", "Patient/ets-c"}, tc)
	})
	if err != nil {
		t.Fatalf("set several event times: %v", err)
	}
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		got, err = tx.EventTimes(ctx, []string{"Patient/ets-a", "Patient/ets-b", "Patient/ets-c"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []time.Time{tc, tb, tc} {
		if !got[i].Equal(w) {
			t.Errorf("after setting several: EventTimes[%d] = %v, want %v", i, got[i], w)
		}
	}

	// Held: a second transaction asking for one of the keys sees what the first set.
	checkEventTimeHeld(t, s, "Patient/ets-serial", func(ctx context.Context, tx store.Tx, key string) (time.Time, error) {
		ats, err := tx.EventTimes(ctx, []string{"Patient/ets-other", key})
		if err != nil {
			return time.Time{}, err
		}
		return ats[1], nil
	})
}
