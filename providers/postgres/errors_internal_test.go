package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/navius-dev/navius/providers"
)

// TestDiskFull: PostgreSQL's disk_full is ErrFull, naming the way out.
func TestDiskFull(t *testing.T) {
	err := (&Database{}).mapErr(&pgconn.PgError{Code: "53100", Message: "could not extend file \"base/5/16384\": No space left on device"})
	if !errors.Is(err, providers.ErrFull) || !strings.Contains(err.Error(), "No space left on device") || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("disk full: %v", err)
	}
}
