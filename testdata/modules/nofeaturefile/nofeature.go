// Package nofeature is a module without a navius-feature.json: --with
// refuses it before building anything.
package nofeature

// Version is here so the package has something in it.
const Version = "v0.0.0"
