// Package profiles holds the build profiles that ship with navius, embedded
// so that any binary with the builder lists and shows them, also outside a
// source tree. A tree's profiles/ directory is where navius profile save
// writes; the shipped ones are files there too.
package profiles

import "embed"

// Shipped are minimal.json, server.json, standard.json and enterprise.json.
//
//go:embed minimal.json server.json standard.json enterprise.json
var Shipped embed.FS
