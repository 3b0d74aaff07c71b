//go:build !unix

package limits

// FileLimit is 0 where the open-file limit cannot be read.
func FileLimit() int { return 0 }
