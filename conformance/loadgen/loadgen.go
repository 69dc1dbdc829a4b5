// Package loadgen drives a running gateway over HTTP with concurrent clients and reports
// throughput, latency percentiles and the server's peak resident memory (read from its
// /metrics). It backs `fhirgw bench http`.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Scenario names what each request does.
type Scenario string

// The scenarios the figures are stated for.
const (
	Read   Scenario = "read"
	Create Scenario = "create"
	Update Scenario = "update"
	Tx10   Scenario = "tx10"
	Tx100  Scenario = "tx100"
)

// Scenarios lists every scenario in report order.
var Scenarios = []Scenario{Read, Create, Update, Tx10, Tx100}

// Config says what load to apply.
type Config struct {
	BaseURL     string // FHIR base, e.g. http://127.0.0.1:8080/fhir
	MetricsURL  string // the server's /metrics, for resident memory; empty to skip
	Scenario    Scenario
	Concurrency int
	Duration    time.Duration
	// Seed is how many patients exist before read and update runs.
	Seed int
}

// Result is what one run measured.
type Result struct {
	Scenario     Scenario
	Concurrency  int
	Requests     int
	Errors       int
	Resources    int // resources written or read
	Elapsed      time.Duration
	P50, P95     time.Duration
	P99          time.Duration
	PeakRSSBytes float64
}

// RequestsPerSec and ResourcesPerSec are the throughputs.
func (r Result) RequestsPerSec() float64  { return float64(r.Requests) / r.Elapsed.Seconds() }
func (r Result) ResourcesPerSec() float64 { return float64(r.Resources) / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%-7s c=%-3d %8.0f req/s %8.0f resources/s  p50 %6.2fms p95 %6.2fms p99 %6.2fms  errors %d/%d  peak RSS %.0f MB",
		r.Scenario, r.Concurrency, r.RequestsPerSec(), r.ResourcesPerSec(),
		ms(r.P50), ms(r.P95), ms(r.P99), r.Errors, r.Requests, r.PeakRSSBytes/(1<<20))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Run applies the load and measures it.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Seed <= 0 {
		cfg.Seed = 1000
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: cfg.Concurrency * 2, MaxIdleConnsPerHost: cfg.Concurrency * 2}, Timeout: 60 * time.Second}
	var ids []string
	if cfg.Scenario == Read || cfg.Scenario == Update {
		var err error
		if ids, err = seed(ctx, client, cfg.BaseURL, cfg.Seed); err != nil {
			return Result{}, fmt.Errorf("seed patients: %w", err)
		}
	}
	res := Result{Scenario: cfg.Scenario, Concurrency: cfg.Concurrency}
	var peak atomic.Uint64
	stopRSS := make(chan struct{})
	var rssDone sync.WaitGroup
	if cfg.MetricsURL != "" {
		rssDone.Add(1)
		go func() {
			defer rssDone.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				if v, err := MetricValue(ctx, client, cfg.MetricsURL, "process_resident_memory_bytes"); err == nil && uint64(v) > peak.Load() {
					peak.Store(uint64(v))
				}
				select {
				case <-stopRSS:
					return
				case <-t.C:
				}
			}
		}()
	}
	deadline := time.Now().Add(cfg.Duration)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			c := newDoer(cfg.BaseURL, client)
			defer c.close()
			var local []time.Duration
			errs, resources := 0, 0
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				t0 := time.Now()
				n, err := one(ctx, c, cfg, ids, rng, w, i)
				local = append(local, time.Since(t0))
				if err != nil {
					errs++
				}
				resources += n
			}
			mu.Lock()
			lat = append(lat, local...)
			res.Errors += errs
			res.Resources += resources
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	close(stopRSS)
	rssDone.Wait()
	res.PeakRSSBytes = float64(peak.Load())
	res.Requests = len(lat)
	slices.Sort(lat)
	if len(lat) > 0 {
		res.P50, res.P95, res.P99 = lat[len(lat)*50/100], lat[len(lat)*95/100], lat[len(lat)*99/100]
	}
	return res, ctx.Err()
}

// one sends one request of the scenario; it returns how many resources it moved.
func one(ctx context.Context, c doer, cfg Config, ids []string, rng *rand.Rand, w, i int) (int, error) {
	switch cfg.Scenario {
	case Read:
		id := ids[rng.IntN(len(ids))]
		return 1, c.do(ctx, "GET", cfg.BaseURL+"/Patient/"+id, nil, http.StatusOK)
	case Create:
		return 1, c.do(ctx, "POST", cfg.BaseURL+"/Patient", patient("", w, i), http.StatusCreated)
	case Update:
		id := ids[rng.IntN(len(ids))]
		return 1, c.do(ctx, "PUT", cfg.BaseURL+"/Patient/"+id, patient(id, w, i), http.StatusOK)
	case Tx10, Tx100:
		n := 10
		if cfg.Scenario == Tx100 {
			n = 100
		}
		return n, c.do(ctx, "POST", cfg.BaseURL, transaction(n, w, i), http.StatusOK)
	}
	return 0, fmt.Errorf("unknown scenario %q", cfg.Scenario)
}

func do(ctx context.Context, c *http.Client, method, url string, body []byte, want int) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	req.Header.Set("Prefer", "return=minimal")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d", method, url, resp.StatusCode)
	}
	return nil
}

var surnames = []string{"张", "王", "李", "赵", "陈", "刘", "欧阳", "杨", "黄", "周"}

func patient(id string, w, i int) []byte {
	idPart := ""
	if id != "" {
		idPart = `"id":"` + id + `",`
	}
	name := surnames[(w+i)%len(surnames)] + "居民" + strconv.Itoa(i)
	return []byte(fmt.Sprintf(`{"resourceType":"Patient",%s"identifier":[{"system":"urn:oid:2.16.156.10011.1.2","value":"HR-%d-%d"}],"active":true,"name":[{"text":"%s"}],"gender":"%s","birthDate":"19%02d-0%d-1%d","address":[{"text":"上海市浦东新区张江镇","state":"上海市","city":"上海市","district":"浦东新区"}]}`,
		idPart, w, i, name, []string{"male", "female"}[i%2], 40+i%50, 1+i%9, i%9))
}

func transaction(n, w, i int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"transaction","entry":[`)
	pid := fmt.Sprintf("urn:uuid:%08x-0000-4000-8000-%012x", w, i)
	fmt.Fprintf(&b, `{"fullUrl":"%s","resource":%s,"request":{"method":"POST","url":"Patient"}}`, pid, patient("", w, i))
	for k := 1; k < n; k++ {
		fmt.Fprintf(&b, `,{"resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"subject":{"reference":"%s"},"effectiveDateTime":"2026-11-%02dT08:00:00+08:00","valueQuantity":{"value":%d,"unit":"mm[Hg]","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},"request":{"method":"POST","url":"Observation"}}`,
			pid, 1+k%28, 110+k%40)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// seed creates patients through transactions of 100 and returns their ids.
func seed(ctx context.Context, c *http.Client, base string, n int) ([]string, error) {
	var ids []string
	for len(ids) < n {
		var b bytes.Buffer
		b.WriteString(`{"resourceType":"Bundle","type":"transaction","entry":[`)
		for k := 0; k < 100; k++ {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"resource":%s,"request":{"method":"POST","url":"Patient"}}`, patient("", 999, len(ids)+k))
		}
		b.WriteString("]}")
		req, err := http.NewRequestWithContext(ctx, "POST", base, &b)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		var out struct {
			Entry []struct {
				Response struct {
					Location string `json:"location"`
				} `json:"response"`
			} `json:"entry"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("seed transaction: status %d: %v", resp.StatusCode, err)
		}
		for _, e := range out.Entry {
			parts := strings.Split(e.Response.Location, "/")
			if len(parts) >= 2 {
				ids = append(ids, parts[1])
			}
		}
	}
	return ids, nil
}

// MetricValue reads one unlabelled sample, such as process_resident_memory_bytes,
// from a Prometheus text endpoint.
func MetricValue(ctx context.Context, c *http.Client, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", url, err)
	}
	return 0, fmt.Errorf("no %s in %s", name, url)
}
