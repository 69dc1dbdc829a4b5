package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/postgres"
)

func procCPU(pid int) time.Duration {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var u, s int64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &s)
	return time.Duration(u+s) * 10 * time.Millisecond
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkZZCPU(b *testing.B) {
	s := open(b, postgres.WithMaxConns(1))
	body := patientBody(b)
	ctx := context.Background()
	var pid int
	s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		p, _ := tx.Search(ctx, store.Query{Type: "X", Total: true})
		_ = p
		return nil
	})
	// find backend pid
	pidFile := "/tmp/zzpid"
	_ = pidFile
	rows := 0
	_ = rows
	const batches = 30
	n := 0
	run := func() {
		for range batches {
			s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
				for range 100 {
					n++
					r := store.Resource{Type: "Patient", ID: fmt.Sprint("b", n), Version: 1, LastUpdated: time.Now(), Method: "POST", Body: body}
					if err := tx.Put(ctx, r, patientIndex(n)); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	run()
	pid = backendPID(b)
	c0, s0, w0 := procCPU(pid), selfCPU(), time.Now()
	run()
	c1, s1, w1 := procCPU(pid), selfCPU(), time.Now()
	puts := float64(batches * 100)
	b.Logf("per Put: server CPU %.0fµs, client CPU %.0fµs, wall %.0fµs", float64((c1-c0).Microseconds())/puts, float64((s1-s0).Microseconds())/puts, float64(w1.Sub(w0).Microseconds())/puts)
}

func backendPID(b *testing.B) int {
	out, err := osExec("psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "select pid from pg_stat_activity where application_name='fhirgw' and datname like 'fhirgw_test_%' order by backend_start desc limit 1")
	if err != nil {
		b.Fatal(err)
	}
	var pid int
	fmt.Sscan(out, &pid)
	return pid
}
