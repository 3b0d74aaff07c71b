// Command navius is a single-binary server whose backends are chosen at
// compile time. A plain `go build` gives the default features; `make build
// FEATURES=...` (or `go build -tags custom,<feature>...`) picks others. Each
// feature's gate file, providers_<feature>.go, is compiled only under its
// build tag and registers the feature's providers from init().
package main

import (
	_ "embed"
	"os"

	"github.com/navius-dev/navius/internal/cli"
)

// features.json is embedded so that the binary knows every feature, also
// those it was built without, and which tag brings each.
//
//go:embed features.json
var manifestJSON []byte

func main() {
	os.Exit(cli.Main(os.Args, manifestJSON))
}
