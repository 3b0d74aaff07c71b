package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
)

// FileSHA256 is the SHA-256 of the file at path in hex, as sha256sum and
// SHA256SUMS files write it; a file that cannot be read fails the test.
func FileSHA256(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
