// Command prog links a few modules, so the sbom tests have a binary whose
// build information lists dependencies (test binaries record none).
package main

import (
	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/sirupsen/logrus"
)

func main() {
	logrus.Info(cdx.SpecVersion1_6.String())
}
