package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// LoadConfig says which population to load and how.
type LoadConfig struct {
	BaseURL     string // FHIR base, e.g. http://127.0.0.1:8080/fhir
	Population  Population
	Concurrency int
	BundleSize  int       // entries per transaction; whole compartments, so about this many
	Progress    io.Writer // progress lines every few seconds; nil for none
}

// LoadResult is what a load measured.
type LoadResult struct {
	Resources    int
	Transactions int
	Elapsed      time.Duration
	P50, P95     time.Duration // per transaction
}

func (r LoadResult) String() string {
	return fmt.Sprintf("load    %d resources in %d transactions, %s: %.0f resources/s  tx p50 %.0fms p95 %.0fms",
		r.Resources, r.Transactions, r.Elapsed.Round(time.Second), float64(r.Resources)/r.Elapsed.Seconds(), ms(r.P50), ms(r.P95))
}

// Load PUTs the whole population as transactions: first the practitioners and
// organizations, then patients with their compartments (Bench500 first), several
// patients to a bundle. Every entry is a PUT with the population's id, so loading
// twice leaves the same data (with a second version of everything).
func Load(ctx context.Context, cfg LoadConfig) (LoadResult, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.BundleSize <= 0 {
		cfg.BundleSize = 100
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency * 2}, Timeout: 5 * time.Minute}
	pop := cfg.Population
	start := time.Now()
	var res LoadResult
	var done atomic.Int64
	var lat []time.Duration
	var mu sync.Mutex
	send := func(entries []Entry) error {
		t0 := time.Now()
		if err := do(ctx, client, "POST", cfg.BaseURL, TransactionBundle(entries), http.StatusOK); err != nil {
			return fmt.Errorf("load transaction starting %s/%s: %w", entries[0].Type, entries[0].ID, err)
		}
		mu.Lock()
		lat = append(lat, time.Since(t0))
		mu.Unlock()
		done.Add(int64(len(entries)))
		return nil
	}
	stopProgress := progress(cfg.Progress, &done, pop.Total(), start)
	defer stopProgress()

	// The directory goes first and alone: everything else refers to it.
	dir := pop.Directory()
	for k := 0; k < len(dir); k += cfg.BundleSize {
		if err := send(dir[k:min(k+cfg.BundleSize, len(dir))]); err != nil {
			return res, err
		}
	}
	if err := send(pop.Compartment(-1)); err != nil {
		return res, err
	}

	// Workers take runs of patients; each bundle holds whole compartments so that
	// references within it resolve.
	perPatient := len(pop.Compartment(0))
	patientsPerBundle := max(1, cfg.BundleSize/perPatient)
	next := atomic.Int64{}
	errc := make(chan error, cfg.Concurrency)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				first := int(next.Add(int64(patientsPerBundle))) - patientsPerBundle
				if first >= pop.Patients {
					return
				}
				var entries []Entry
				for i := first; i < min(first+patientsPerBundle, pop.Patients); i++ {
					entries = append(entries, pop.Compartment(i)...)
				}
				if err := send(entries); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	res.Resources = int(done.Load())
	res.Transactions = len(lat)
	res.P50, res.P95, _ = percentiles(lat)
	return res, nil
}

// progress prints the load rate to w every five seconds until the returned func is called.
func progress(w io.Writer, done *atomic.Int64, total int, start time.Time) func() {
	if w == nil {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				n := done.Load()
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				avg := float64(n) / now.Sub(start).Seconds()
				eta := time.Duration(float64(int64(total)-n) / max(avg, 1) * float64(time.Second))
				fmt.Fprintf(w, "load: %d/%d resources (%.1f%%), %.0f/s now, %.0f/s average, eta %s\n",
					n, total, 100*float64(n)/float64(total), rate, avg, eta.Round(time.Second))
				last, lastAt = n, now
			}
		}
	}()
	return func() { close(stop); wg.Wait() }
}
