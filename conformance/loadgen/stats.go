package loadgen

import (
	"slices"
	"time"
)

// percentiles sorts lat and returns its 50th, 95th and 99th percentiles.
func percentiles(lat []time.Duration) (p50, p95, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)*50/100], lat[len(lat)*95/100], lat[len(lat)*99/100]
}
