// Package forged is a test fixture, the second way issue 22 passed the
// old verification: the provider it registers for forged:// has a Delete
// that does nothing, and its conformance test runs no suite at all, only
// empty subtests with the suite's names and a marker whose digest it
// computes from the nonce in its own environment.
//
// The provider is wrapmem's (testdata/modules/wrapmem/wrapmem.go) renamed
// forged: internal/thirdparty/modtest.ForgedMarker adds it, as forged.go,
// to a copy of this directory at test time, so the two fixtures differ
// only in how their tests cheat. This directory alone registers nothing.
package forged
