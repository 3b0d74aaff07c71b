// Package nameclash declares a feature named like one of navius's own
// (bolt); --with refuses it before building anything.
package nameclash
