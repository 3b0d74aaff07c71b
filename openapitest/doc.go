// Package openapitest checks navius's OpenAPI document with a real
// validator (kin-openapi), in a test-only module of its own so that the
// validator's dependencies stay out of navius's go.mod: the document of a
// real navius binary must be valid OpenAPI 3.1, and the binary's answers to
// every operation it describes must match it.
package openapitest
