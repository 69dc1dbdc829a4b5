package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/adapters/mllp"
	"github.com/shch/fhirgw/conformance/loadgen"
)

// benchTemplates are the corpus messages the MLLP benchmark varies, by kind: messages
// that create or update a patient (ADT) and lab results (ORU).
var benchTemplates = map[string][]string{
	"adt": {"ADT-A01-01.hl7", "ADT-A04-01.hl7", "ADT-A08-01.hl7", "ADT-A28-01.hl7", "ADT-A31-01.hl7", "ADT01-23.hl7", "ADT04-251.hl7"},
	"oru": {"ORU-R01-01.hl7", "ORU-R01-RMGEAD.hl7", "LAB-ORU-1.hl7", "LAB-ORU-2.hl7"},
}

// messageFactory makes distinct messages from corpus templates: each gets its own
// control id (MSH-10), patient identifier (PID-3), visit number (PV1-19) and order
// numbers (ORC-2/3, OBR-2/3), diagnosis (DG1-20), specimen (SPM-2), observation
// instance (OBX-21) and procedure (PR1-19) identifiers, so that no two are duplicates
// or the same patient.
type messageFactory struct {
	prefix    string
	templates map[string][][]byte
	kinds     []string // one entry per weight unit
	n         atomic.Int64
}

func newMessageFactory(dir, mix, prefix string) (*messageFactory, error) {
	f := &messageFactory{prefix: prefix, templates: map[string][][]byte{}}
	for _, part := range strings.Split(mix, ",") {
		kind, w, ok := strings.Cut(strings.TrimSpace(part), ":")
		weight, err := strconv.Atoi(w)
		if !ok || err != nil || weight < 0 || benchTemplates[kind] == nil {
			return nil, fmt.Errorf("--mix %q: want kind:weight pairs with kinds adt, oru", mix)
		}
		for _, name := range benchTemplates[kind] {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return nil, fmt.Errorf("read template: %w", err)
			}
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
			b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\r")), []byte("\n"), []byte("\r"))
			f.templates[kind] = append(f.templates[kind], b)
		}
		for range weight {
			f.kinds = append(f.kinds, kind)
		}
	}
	if len(f.kinds) == 0 {
		return nil, fmt.Errorf("--mix %q selects nothing", mix)
	}
	return f, nil
}

// next returns a new message and its control id.
func (f *messageFactory) next(rng *rand.Rand) ([]byte, string) {
	n := f.n.Add(1)
	kind := f.kinds[rng.IntN(len(f.kinds))]
	tpl := f.templates[kind][rng.IntN(len(f.templates[kind]))]
	id := fmt.Sprintf("%s%d", f.prefix, n)
	return rewriteMessage(tpl, id, n), id
}

// rewriteMessage sets the identifying fields of an ER7 message (CR-terminated
// segments, "|" or any other field separator) for message number n.
func rewriteMessage(tpl []byte, controlID string, n int64) []byte {
	if len(tpl) < 4 {
		return tpl
	}
	sep := tpl[bytes.Index(tpl, []byte("MSH"))+3]
	segs := bytes.Split(bytes.TrimRight(tpl, "\r"), []byte("\r"))
	mrn := fmt.Sprintf("B%d^^^BENCH^MR", n)
	for i, seg := range segs {
		if len(seg) < 3 {
			continue
		}
		var set map[int]string
		switch string(seg[:3]) {
		case "MSH":
			// Original acknowledgement mode (empty MSH-15/16): one ACK per message.
			set = map[int]string{10: controlID, 15: "", 16: ""}
		case "PID":
			set = map[int]string{3: mrn, 2: "", 4: ""}
		case "PV1":
			set = map[int]string{19: fmt.Sprintf("V%d", n)}
		case "ORC", "OBR":
			set = map[int]string{2: fmt.Sprintf("P%d", n), 3: fmt.Sprintf("F%d", n)}
		case "DG1": // diagnosis identifier: each real diagnosis has its own
			set = map[int]string{20: fmt.Sprintf("D%d", n)}
		case "SPM": // specimen identifier
			set = map[int]string{2: fmt.Sprintf("S%d", n)}
		case "OBX": // observation instance identifier
			set = map[int]string{21: fmt.Sprintf("O%d-%d", n, i)}
		case "PR1": // procedure identifier
			set = map[int]string{19: fmt.Sprintf("PR%d-%d", n, i)}
		default:
			continue
		}
		segs[i] = setFields(seg, sep, string(seg[:3]) == "MSH", set)
	}
	out := bytes.Join(segs, []byte("\r"))
	return append(out, '\r')
}

// setFields replaces fields of one segment; only fields that are present and not
// empty are replaced (an empty MRN or order number stays empty). In MSH, field n is
// the (n-1)th element after the segment name, MSH-1 being the separator itself.
func setFields(seg []byte, sep byte, msh bool, set map[int]string) []byte {
	parts := bytes.Split(seg, []byte{sep})
	for n, v := range set {
		i := n
		if msh {
			i = n - 1
		}
		if i < len(parts) && len(parts[i]) > 0 {
			parts[i] = []byte(v)
		}
	}
	return bytes.Join(parts, []byte{sep})
}

type mllpBenchResult struct {
	sent, acked, errs, mismatched int64
	codes                         map[string]int64
	lat                           []time.Duration
	elapsed                       time.Duration
	peakRSS                       float64
	cpuSeconds                    float64 // the gateway's CPU over the run; 0 when unknown
}

func benchMLLP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench mllp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "127.0.0.1:2575", "MLLP address of the gateway")
	conns := fs.Int("connections", 8, "concurrent MLLP connections (each sends, waits for the ACK, sends the next)")
	duration := fs.Duration("duration", 20*time.Second, "how long to send")
	rate := fs.Float64("rate", 0, "messages per second over all connections, evenly paced; 0: as fast as the ACKs come")
	mix := fs.String("mix", "adt:1,oru:1", "message kinds and weights")
	corpusDir := fs.String("corpus", "testdata/hl7v2/messages", "directory of the template messages")
	metricsURL := fs.String("metrics-url", "http://127.0.0.1:8080/metrics", "the gateway's /metrics, read for peak RSS and CPU time; empty: skip")
	warmup := fs.Duration("warmup", 0, "leave the ACK latencies of messages sent in this first part of the run out of the percentiles (they still count in the rate)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conns < 1 || *duration <= 0 || *rate < 0 {
		return errors.New("bench mllp: --connections and --duration must be positive, --rate not negative")
	}
	f, err := newMessageFactory(*corpusDir, *mix, fmt.Sprintf("BM%x-", time.Now().UnixNano()))
	if err != nil {
		return fmt.Errorf("bench mllp: %w", err)
	}
	res, err := runMLLPBench(ctx, f, *target, *conns, *duration, *rate, *warmup, *metricsURL)
	if err != nil {
		return err
	}
	printMLLPBench(stdout, *conns, *rate, res)
	return nil
}

func runMLLPBench(ctx context.Context, f *messageFactory, target string, conns int, duration time.Duration, rate float64, warmup time.Duration, metricsURL string) (*mllpBenchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	res := &mllpBenchResult{codes: map[string]int64{}}
	var mu sync.Mutex

	// Paced mode: a single clock hands out send times; latency is measured from the
	// scheduled time, so a stalled server is not hidden (no coordinated omission).
	var ticks chan time.Time
	if rate > 0 {
		ticks = make(chan time.Time, conns)
		go func() {
			defer close(ticks)
			interval := time.Duration(float64(time.Second) / rate)
			next := time.Now()
			for {
				if d := time.Until(next); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				select {
				case ticks <- next:
				case <-ctx.Done():
					return
				}
				next = next.Add(interval)
			}
		}()
	}

	var peak atomic.Uint64
	rssDone := make(chan struct{})
	if metricsURL != "" {
		go func() {
			defer close(rssDone)
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				if v, err := metricValue(ctx, metricsURL, "process_resident_memory_bytes"); err == nil && uint64(v) > peak.Load() {
					peak.Store(uint64(v))
				}
				select {
				case <-t.C:
				case <-ctx.Done():
					return
				}
			}
		}()
	} else {
		close(rssDone)
	}

	cpu0, cpuErr := metricValue(ctx, metricsURL, "process_cpu_seconds_total")
	start := time.Now()
	var wg sync.WaitGroup
	var dialErr atomic.Pointer[error]
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(start.UnixNano())))
			var d net.Dialer
			nc, err := d.DialContext(ctx, "tcp", target)
			if err != nil {
				dialErr.CompareAndSwap(nil, &err)
				return
			}
			defer nc.Close()
			go func() { <-ctx.Done(); nc.SetDeadline(time.Now()) }()
			w, r := mllp.NewWriter(nc), mllp.NewReader(bufio.NewReader(nc), 0)
			var lat []time.Duration
			codes := map[string]int64{}
			var sent, acked, errs, mism int64
			defer func() {
				mu.Lock()
				res.lat = append(res.lat, lat...)
				for k, v := range codes {
					res.codes[k] += v
				}
				res.sent += sent
				res.acked += acked
				res.errs += errs
				res.mismatched += mism
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				t0 := time.Now()
				if ticks != nil {
					tk, ok := <-ticks
					if !ok {
						return
					}
					t0 = tk
				}
				msg, id := f.next(rng)
				sent++
				if err := w.WriteMessage(msg); err != nil {
					if ctx.Err() == nil {
						errs++
					}
					return
				}
				ack, err := r.ReadMessage()
				if err != nil {
					if ctx.Err() == nil {
						errs++
					}
					return
				}
				if t0.Sub(start) >= warmup {
					lat = append(lat, time.Since(t0))
				}
				acked++
				m, err := hl7v2.Parse(ack)
				if err != nil {
					codes["unparsable"]++
					continue
				}
				codes[m.Get("MSA-1")]++
				if m.Get("MSA-2") != id {
					mism++
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	cancel()
	<-rssDone
	res.peakRSS = float64(peak.Load())
	if cpu1, err := metricValue(context.WithoutCancel(ctx), metricsURL, "process_cpu_seconds_total"); err == nil && cpuErr == nil {
		res.cpuSeconds = cpu1 - cpu0
	}
	if p := dialErr.Load(); p != nil && res.acked == 0 {
		return nil, fmt.Errorf("bench mllp: connect to %s: %w", target, *p)
	}
	return res, nil
}

func printMLLPBench(w io.Writer, conns int, rate float64, r *mllpBenchResult) {
	slices.Sort(r.lat)
	pct := func(p float64) float64 {
		if len(r.lat) == 0 {
			return 0
		}
		return float64(r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))].Microseconds()) / 1000
	}
	keys := make([]string, 0, len(r.codes))
	for k := range r.codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var codes []string
	for _, k := range keys {
		codes = append(codes, fmt.Sprintf("%s=%d", k, r.codes[k]))
	}
	mode := "max"
	if rate > 0 {
		mode = fmt.Sprintf("%.0f/s", rate)
	}
	fmt.Fprintf(w, "mllp c=%d rate=%s: %d acked in %.1fs = %.0f msgs/s  ACK p50 %.2fms p95 %.2fms p99 %.2fms  codes %s  errors %d  control-id mismatches %d  peak RSS %.0f MB\n",
		conns, mode, r.acked, r.elapsed.Seconds(), float64(r.acked)/r.elapsed.Seconds(), pct(0.50), pct(0.95), pct(0.99),
		strings.Join(codes, " "), r.errs, r.mismatched, r.peakRSS/(1<<20))
	if r.cpuSeconds > 0 && r.acked > 0 {
		fmt.Fprintf(w, "gateway CPU %.1fs = %.2f ms per acknowledged message\n", r.cpuSeconds, r.cpuSeconds*1000/float64(r.acked))
	}
}

// metricValue reads one sample of the gateway's /metrics; an empty URL reads nothing.
func metricValue(ctx context.Context, url, name string) (float64, error) {
	if url == "" {
		return 0, errors.New("no metrics URL")
	}
	return loadgen.MetricValue(ctx, http.DefaultClient, url, name)
}
