//go:build !unix

package builder

import "os"

// terminalColumns is 0 where the terminal's width is not asked: output
// wraps at $COLUMNS or 80.
func terminalColumns(*os.File) int { return 0 }
