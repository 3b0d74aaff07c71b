package health

import (
	"fmt"
	"strings"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Actuator renders the report as Spring Boot Actuator's /health body. With
// details false only the overall status is shown.
func (r *Report) Actuator(details bool) map[string]any {
	out := map[string]any{"status": r.Status}
	if !details {
		return out
	}
	comps := make(map[string]any, len(r.Components))
	for name, c := range r.Components {
		d := map[string]any{}
		for k, v := range c.Details {
			d[k] = v
		}
		if c.ObservedValue != nil {
			d["observed_value"] = c.ObservedValue
			d["observed_unit"] = c.ObservedUnit
		}
		if c.Error != "" {
			d["error"] = c.Error
		}
		comp := map[string]any{"status": c.Status}
		if len(d) > 0 {
			comp["details"] = d
		}
		if !c.Critical {
			comp["critical"] = false
		}
		comps[name] = comp
	}
	out["components"] = comps
	return out
}

// ietfStatus maps a component to pass/warn/fail: a failing non-critical
// component only warns.
func ietfStatus(c Component) string {
	switch {
	case c.Status == providers.StatusUp:
		return "pass"
	case c.Critical:
		return "fail"
	}
	return "warn"
}

// IETF renders the report in the IETF "Health Check Response Format for HTTP
// APIs" draft (application/health+json).
func (r *Report) IETF(serviceID, version string, details bool) map[string]any {
	status := "pass"
	checks := map[string]any{}
	for _, name := range r.Order {
		c := r.Components[name]
		s := ietfStatus(c)
		if s == "fail" || (s == "warn" && status == "pass") {
			status = s
		}
		entry := map[string]any{
			"status": s,
			"time":   c.Time.UTC().Format(time.RFC3339Nano),
		}
		if c.ComponentType != "" {
			entry["componentType"] = c.ComponentType
		}
		if c.ObservedValue != nil {
			entry["observedValue"] = c.ObservedValue
			entry["observedUnit"] = c.ObservedUnit
		}
		if c.Error != "" {
			entry["output"] = c.Error
		}
		key := name
		if c.ObservedUnit == "ms" {
			key += ":responseTime"
		}
		checks[key] = []any{entry}
	}
	out := map[string]any{
		"status":    status,
		"serviceId": serviceID,
		"version":   strings.SplitN(strings.TrimPrefix(version, "v"), ".", 2)[0],
		"releaseId": version,
	}
	if details {
		out["checks"] = checks
	}
	return out
}

// Text renders readyz-style verbose output: one "[+]name ok" or
// "[-]name failed: reason" line per critical indicator, then a verdict.
// Without details the reasons (which may name addresses and paths) are
// withheld, as /health withholds its components.
func (r *Report) Text(kind string, ready, details bool) string {
	var b strings.Builder
	for _, name := range r.Order {
		c := r.Components[name]
		if !c.Critical {
			continue
		}
		if c.Status == providers.StatusUp {
			fmt.Fprintf(&b, "[+]%s ok\n", name)
		} else if details {
			fmt.Fprintf(&b, "[-]%s failed: %s\n", name, oneLine(firstNonEmpty(c.Error, string(c.Status))))
		} else {
			fmt.Fprintf(&b, "[-]%s failed: reason withheld\n", name)
		}
	}
	if ready {
		fmt.Fprintf(&b, "%s check passed\n", kind)
	} else {
		fmt.Fprintf(&b, "%s check failed\n", kind)
	}
	return b.String()
}

// oneLine joins the lines of a multi-line error (a Sentinel's, say) with
// "; ", so that verbose output keeps one line per check.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
