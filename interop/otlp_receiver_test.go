package interop

import (
	_ "go.opentelemetry.io/collector/receiver/otlpreceiver"
)
