package interop

import (
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/extension/ackextension"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/splunkhecreceiver"
	_ "go.opentelemetry.io/collector/consumer/consumertest"
	_ "go.opentelemetry.io/collector/receiver/receivertest"
	_ "go.opentelemetry.io/collector/component/componenttest"
)
