package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// SearchClass names a kind of search the bench measures.
type SearchClass string

// The query classes of the search targets.
const (
	TokenCode       SearchClass = "token-code"       // Observation?code=loinc|x
	TokenIdentifier SearchClass = "token-identifier" // Patient?identifier=idcard
	DateRange       SearchClass = "date-range"       // Observation?date=ge..&date=lt.. (one month)
	StringName      SearchClass = "string-name"      // Patient?name=<surname>
	StringFamily    SearchClass = "string-family"    // Patient?family=<surname>&given=<given>
	Reference       SearchClass = "reference"        // Observation?subject=Patient/x
	ChainIdentifier SearchClass = "chain-identifier" // Observation?subject:Patient.identifier=idcard
	ChainName       SearchClass = "chain-name"       // Observation?subject:Patient.name=<full name>
	Include         SearchClass = "include"          // Observation?code=..&_include=Observation:subject
	RevInclude      SearchClass = "revinclude"       // Patient?identifier=..&_revinclude=Observation:subject
	EverythingPage  SearchClass = "everything-page"  // Patient/bench-500/$everything?_count=100, first page
	EverythingAll   SearchClass = "everything-all"   // the same, every page followed
)

// SearchClasses lists every class in report order.
var SearchClasses = []SearchClass{TokenCode, TokenIdentifier, DateRange, StringName, StringFamily,
	Reference, ChainIdentifier, ChainName, Include, RevInclude, EverythingPage, EverythingAll}

// SearchConfig says which searches to run against which loaded population.
type SearchConfig struct {
	BaseURL     string // FHIR base
	Population  Population
	Class       SearchClass
	Concurrency int
	Duration    time.Duration
	// Total, when set, is sent as _total on every search (not $everything): "none"
	// spares the server counting every match, which the gateway does by default.
	Total string
}

// SearchResult is what one class measured. Empty counts searches that matched
// nothing: with values drawn from the loaded population there should be none.
type SearchResult struct {
	Class            SearchClass
	Total            string
	Concurrency      int
	Requests         int
	Errors, Empty    int
	Matches, Entries int // summed over requests: search.mode=match entries, all entries
	Elapsed          time.Duration
	P50, P95, P99    time.Duration
}

// RequestsPerSec is the throughput.
func (r SearchResult) RequestsPerSec() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r SearchResult) String() string {
	avg := 0.0
	if r.Requests > 0 {
		avg = float64(r.Entries) / float64(r.Requests)
	}
	name := string(r.Class)
	if r.Total != "" {
		name += " _total=" + r.Total
	}
	return fmt.Sprintf("%-28s c=%-3d %8.1f req/s  p50 %7.2fms p95 %7.2fms p99 %7.2fms  entries/req %6.1f  empty %d  errors %d/%d",
		name, r.Concurrency, r.RequestsPerSec(), ms(r.P50), ms(r.P95), ms(r.P99), avg, r.Empty, r.Errors, r.Requests)
}

// Query returns the relative URL (after the FHIR base) of one search of class c with
// values drawn by r from the population.
func (p Population) Query(c SearchClass, r *rand.Rand) (string, error) {
	pt := func() Patient { return p.Patient(r.IntN(p.Patients)) }
	code := func() string { return url.QueryEscape(LOINC + "|" + obsKinds[r.IntN(len(obsKinds))].code) }
	idcard := func() string { return url.QueryEscape(IDCardSystem + "|" + pt().IDCard) }
	switch c {
	case TokenCode:
		return "Observation?code=" + code() + "&_count=20", nil
	case TokenIdentifier:
		return "Patient?identifier=" + idcard(), nil
	case DateRange:
		m := ObsEpoch.AddDate(0, r.IntN(36), 0)
		return "Observation?date=ge" + m.Format("2006-01-02") + "&date=lt" + m.AddDate(0, 1, 0).Format("2006-01-02") + "&_count=20", nil
	case StringName:
		return "Patient?name=" + url.QueryEscape(pt().Family) + "&_count=20", nil
	case StringFamily:
		x := pt()
		return "Patient?family=" + url.QueryEscape(x.Family) + "&given=" + url.QueryEscape(x.Given) + "&_count=20", nil
	case Reference:
		return "Observation?subject=Patient/" + pt().ID + "&_count=20", nil
	case ChainIdentifier:
		return "Observation?subject:Patient.identifier=" + idcard() + "&_count=20", nil
	case ChainName:
		return "Observation?subject:Patient.name=" + url.QueryEscape(pt().Text) + "&_count=20", nil
	case Include:
		return "Observation?code=" + code() + "&_include=Observation:subject&_count=20", nil
	case RevInclude:
		return "Patient?identifier=" + idcard() + "&_revinclude=Observation:subject", nil
	case EverythingPage, EverythingAll:
		return "Patient/" + Bench500 + "/$everything?_count=100", nil
	}
	return "", fmt.Errorf("unknown search class %q", c)
}

// Search runs searches of one class for the configured duration.
func Search(ctx context.Context, cfg SearchConfig) (SearchResult, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 20 * time.Second
	}
	if _, err := cfg.Population.Query(cfg.Class, rand.New(rand.NewPCG(1, 1))); err != nil {
		return SearchResult{}, err
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return SearchResult{}, fmt.Errorf("parse base URL: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency * 2}, Timeout: time.Minute}
	res := SearchResult{Class: cfg.Class, Concurrency: cfg.Concurrency}
	if cfg.Class != EverythingPage && cfg.Class != EverythingAll {
		res.Total = cfg.Total
	}
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(cfg.Population.Seed, uint64(w)<<32|uint64(start.UnixNano()&0xffffffff)))
			var local []time.Duration
			var part SearchResult
			var perr error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				q, _ := cfg.Population.Query(cfg.Class, r)
				if res.Total != "" {
					q += "&_total=" + url.QueryEscape(res.Total)
				}
				t0 := time.Now()
				b, err := getBundle(ctx, client, cfg.BaseURL+"/"+q)
				// Paging through $everything: follow next links, rewritten onto the
				// target, since the server's configured base URL may differ.
				for err == nil && cfg.Class == EverythingAll {
					next := b.link("next")
					if next == "" {
						break
					}
					part.Matches += b.matches()
					part.Entries += len(b.Entry)
					var u *url.URL
					if u, err = url.Parse(next); err == nil {
						u.Scheme, u.Host = base.Scheme, base.Host
						b, err = getBundle(ctx, client, u.String())
					}
				}
				local = append(local, time.Since(t0))
				if err != nil {
					part.Errors++
					if perr == nil {
						perr = fmt.Errorf("%s: %w", q, err)
					}
					continue
				}
				part.Matches += b.matches()
				part.Entries += len(b.Entry)
				if b.matches() == 0 {
					part.Empty++
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			res.Errors += part.Errors
			res.Empty += part.Empty
			res.Matches += part.Matches
			res.Entries += part.Entries
			if firstErr == nil {
				firstErr = perr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests = len(lat)
	res.P50, res.P95, res.P99 = percentiles(lat)
	if res.Errors > 0 && res.Errors == res.Requests {
		return res, fmt.Errorf("every search failed, first: %w", firstErr)
	}
	return res, ctx.Err()
}

// bundle is the part of a searchset Bundle the bench looks at.
type bundle struct {
	Link []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Search struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

func (b *bundle) link(rel string) string {
	for _, l := range b.Link {
		if l.Relation == rel {
			return l.URL
		}
	}
	return ""
}

func (b *bundle) matches() int {
	n := 0
	for _, e := range b.Entry {
		// $everything marks nothing; every entry is a match there.
		if e.Search.Mode == "match" || e.Search.Mode == "" {
			n++
		}
	}
	return n
}

func getBundle(ctx context.Context, c *http.Client, u string) (*bundle, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %.300s", resp.StatusCode, body)
	}
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("decode bundle: %w", err)
	}
	return &b, nil
}
