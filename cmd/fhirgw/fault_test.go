package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/adapters/mllp"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/pgtest"
	"github.com/shch/fhirgw/gateway/store/postgres"
	"github.com/shch/fhirgw/gateway/store/sqlite"
)

// TestKillMidStream kills the gateway with SIGKILL while senders stream messages over
// MLLP, restarts it, and lets the senders resend whatever was not acknowledged (and
// some acknowledged messages too, as a sender unsure of its state would). Every
// acknowledged message must then be applied exactly once, and no patient created
// twice.
func TestKillMidStream(t *testing.T) {
	bin := buildGateway(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			var storeArgs []string
			var open func() (store.Store, error)
			ctx := context.Background()
			if kind == "sqlite" {
				dir := t.TempDir()
				storeArgs = []string{"--data-dir", dir}
				open = func() (store.Store, error) { return sqlite.Open(ctx, dir) }
			} else {
				u := pgtest.NewDatabase(t)
				storeArgs = []string{"--database-url", u}
				open = func() (store.Store, error) { return postgres.Open(ctx, u) }
			}
			killMidStream(t, bin, storeArgs, open)
		})
	}
}

// buildGateway builds the binary under test into a temporary directory; in -short
// mode the test is skipped instead.
func buildGateway(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "fhirgw")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type gatewayProc struct {
	cmd       *exec.Cmd
	httpAddr  string
	mllpAddr  string
	logFile   string
	exited    chan struct{}
	waitError error
}

// startGateway starts the binary on ports it chooses itself and reads them from its
// log: ports picked by the test and released before the gateway binds them can be
// taken meanwhile by another test package running in parallel, whose server the test
// would then talk to.
func startGateway(t *testing.T, bin string, storeArgs []string, logFile string) *gatewayProc {
	t.Helper()
	var offset int64
	if fi, err := os.Stat(logFile); err == nil {
		offset = fi.Size() // lines of an earlier run of the gateway come before
	}
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--http-addr", "127.0.0.1:0", "--mllp-addr", "127.0.0.1:0", "--log-level", "info"}, storeArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gatewayProc{cmd: cmd, logFile: logFile, exited: make(chan struct{})}
	go func() { p.waitError = cmd.Wait(); logf.Close(); close(p.exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.exited })
	deadline := time.Now().Add(60 * time.Second)
	for {
		p.httpAddr, p.mllpAddr = listening(logFile, offset)
		if p.httpAddr != "" && p.mllpAddr != "" {
			if c, err := net.Dial("tcp", p.mllpAddr); err == nil {
				c.Close()
				return p
			}
		}
		select {
		case <-p.exited:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("gateway exited at start-up: %v\n%s", p.waitError, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway did not start listening within 60s")
		}
	}
}

// listening reads the HTTP and MLLP addresses the gateway logged after offset.
func listening(logFile string, offset int64) (httpAddr, mllpAddr string) {
	data, err := os.ReadFile(logFile)
	if err != nil || int64(len(data)) < offset {
		return "", ""
	}
	for _, line := range bytes.Split(data[offset:], []byte("\n")) {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "fhirgw serving":
			httpAddr = rec.Addr
		case "fhirgw receiving HL7 v2 over MLLP":
			mllpAddr = rec.Addr
		}
	}
	return httpAddr, mllpAddr
}

// sendAll sends msgs over conns connections, each message after the previous ACK on
// its connection, and returns the control ids acknowledged with AA or CA. It stops a
// connection at its first error (the gateway died).
func sendAll(addr string, conns int, msgs [][]byte, ids []string, acked *sync.Map, onAck func()) (codes map[string]int) {
	var mu sync.Mutex
	codes = map[string]int{}
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer nc.Close()
			w, r := mllp.NewWriter(nc), mllp.NewReader(nc, 0)
			for i := c; i < len(msgs); i += conns {
				nc.SetDeadline(time.Now().Add(60 * time.Second))
				if w.WriteMessage(msgs[i]) != nil {
					return
				}
				ack, err := r.ReadMessage()
				if err != nil {
					return
				}
				m, err := hl7v2.Parse(ack)
				code := "unparsable"
				if err == nil && m.Get("MSA-2") == ids[i] {
					code = m.Get("MSA-1")
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
				if code == "AA" || code == "CA" {
					acked.Store(ids[i], true)
					if onAck != nil {
						onAck()
					}
				}
			}
		}()
	}
	wg.Wait()
	return codes
}

func killMidStream(t *testing.T, bin string, storeArgs []string, open func() (store.Store, error)) {
	const total, killAfter, conns = 400, 120, 4
	f, err := newMessageFactory("../../testdata/hl7v2/messages", "adt:1,oru:1", fmt.Sprintf("K%d-", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	msgs, ids := make([][]byte, total), make([]string, total)
	mrns := map[string]string{} // control id -> MRN
	for i := range total {
		msgs[i], ids[i] = f.next(rng)
		m, _ := hl7v2.Parse(msgs[i])
		mrns[ids[i]] = m.Get("PID-3.1")
	}
	logFile := filepath.Join(t.TempDir(), "gateway.log")
	gw := startGateway(t, bin, storeArgs, logFile)

	// Phase 1: stream, and SIGKILL the gateway once killAfter messages are acknowledged;
	// the other connections have messages in flight at that moment.
	var acked sync.Map
	var n int64
	var once sync.Once
	var nmu sync.Mutex
	codes1 := sendAll(gw.mllpAddr, conns, msgs, ids, &acked, func() {
		nmu.Lock()
		n++
		kill := n >= killAfter
		nmu.Unlock()
		if kill {
			once.Do(func() { gw.cmd.Process.Signal(syscall.SIGKILL) })
		}
	})
	<-gw.exited
	ackedBefore := map[string]bool{}
	acked.Range(func(k, _ any) bool { ackedBefore[k.(string)] = true; return true })
	t.Logf("before SIGKILL: %d acknowledged (%v)", len(ackedBefore), codes1)
	if len(ackedBefore) < killAfter || len(ackedBefore) >= total {
		t.Fatalf("the kill did not land mid-stream: %d of %d acknowledged", len(ackedBefore), total)
	}

	// Phase 2: restart; resend every unacknowledged message, and every 10th
	// acknowledged one again.
	gw = startGateway(t, bin, storeArgs, logFile)
	var resend [][]byte
	var resendIDs []string
	again := 0
	for i := range total {
		if !ackedBefore[ids[i]] || i%10 == 0 {
			resend = append(resend, msgs[i])
			resendIDs = append(resendIDs, ids[i])
			if ackedBefore[ids[i]] {
				again++
			}
		}
	}
	codes2 := sendAll(gw.mllpAddr, conns, resend, resendIDs, &acked, nil)
	t.Logf("after restart: resent %d (%d of them already acknowledged): %v", len(resend), again, codes2)
	if codes2["AA"]+codes2["CA"] != len(resend) {
		t.Fatalf("not every resent message acknowledged: %v", codes2)
	}

	// Every message is now acknowledged: each must be applied exactly once, and each
	// message's patient (its MRN is unique) must exist exactly once.
	for i := range total {
		if _, ok := acked.Load(ids[i]); !ok {
			t.Fatalf("message %s never acknowledged", ids[i])
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, id := range ids {
		u := "http://" + gw.httpAddr + "/fhir/Patient?_summary=count&identifier=" + url.QueryEscape(mrns[id])
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var b struct{ Total int }
		err = json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		if err != nil || b.Total != 1 {
			t.Fatalf("message %s: %d patients with identifier %s (%v), want 1", id, b.Total, mrns[id], err)
		}
	}
	gw.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-gw.exited:
		if gw.waitError != nil {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("gateway did not stop cleanly on SIGTERM: %v\n%s", gw.waitError, log)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not stop within 30s of SIGTERM")
	}

	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	applied := map[string]int{}
	statuses := map[string]int{}
	var sample []store.Message
	q := store.MessageQuery{Count: 200}
	for {
		page, err := st.ListMessages(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			statuses[m.Status]++
			if m.Status == store.MessageApplied {
				applied[m.ControlID]++
				if len(sample) < 50 {
					sample = append(sample, m)
				}
			}
		}
		if page.Next == 0 {
			break
		}
		q.Before = page.Next
	}
	t.Logf("stored messages by status: %v", statuses)
	for _, id := range ids {
		if applied[id] != 1 {
			t.Errorf("message %s applied %d times, want exactly once", id, applied[id])
		}
	}
	if len(applied) != total {
		t.Errorf("%d control ids applied, want %d", len(applied), total)
	}
	// Resends of messages applied before the kill are recorded as duplicates, not
	// applied again.
	if statuses[store.MessageDuplicate] < again {
		t.Errorf("%d duplicates recorded, want at least the %d acknowledged messages resent", statuses[store.MessageDuplicate], again)
	}
	for _, m := range sample {
		got, err := st.FindAppliedMessage(ctx, m.Sender, m.ControlID)
		if err != nil || got.ID != m.ID {
			t.Errorf("FindAppliedMessage(%s, %s) = %s, %v; want %s", m.Sender, m.ControlID, got.ID, err, m.ID)
		}
	}
}
