//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package health

import (
	"errors"
	"runtime"
)

func diskSpace(string) (free, total uint64, err error) {
	return 0, 0, errors.New("disk space is not measured on " + runtime.GOOS)
}
