package loadgen

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// VacuumAnalyze runs VACUUM (ANALYZE) on the gateway's PostgreSQL database after a bulk
// load. Without statistics the planner takes freshly loaded tables for empty and picks
// nested loops over millions of rows (a month's Observation date search took minutes);
// the vacuum also sets the visibility map, which the index-only scans of the index
// tables need. Autovacuum would do both eventually, if it is enabled at all.
func VacuumAnalyze(ctx context.Context, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("connect to analyze: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	return nil
}
