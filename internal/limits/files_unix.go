//go:build unix

package limits

import "syscall"

// FileLimit is the process's open-file limit (RLIMIT_NOFILE), or 0 when it
// cannot be read.
func FileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}
