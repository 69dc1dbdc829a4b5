package loadgen

import (
	"context"
	"net/url"
	"testing"

	"github.com/shch/fhirgw/gateway/store/pgtest"
)

func TestVacuumAnalyze(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	if err := VacuumAnalyze(ctx, db); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	u.Path += "_missing"
	if err := VacuumAnalyze(ctx, u.String()); err == nil {
		t.Error("VacuumAnalyze on a database that does not exist reported no error")
	}
}
