// Package intree holds only a test: navius's own database providers run
// the database suite as a third party's would under navius's harness,
// opened through the registry with a Config harness and Durable, so that
// the cases that need both (CrashDurable) run on them too. Each provider's
// own conformance test is in its package.
package intree
