package cli

import "strings"

// Repeated is a repeatable flag's values, each taken whole, for a
// ucli.GenericFlag: a StringSliceFlag splits a value at its commas, which
// --set auth.tokens=read:a,write:b and a --with directory may hold.
type Repeated []string

func (r *Repeated) Set(v string) error { *r = append(*r, v); return nil }
func (r *Repeated) String() string     { return strings.Join(*r, " ") }

// RepeatedValues are the values of the Repeated flag name.
func RepeatedValues(c interface{ Generic(string) any }, name string) []string {
	if r, ok := c.Generic(name).(*Repeated); ok {
		return *r
	}
	return nil
}
