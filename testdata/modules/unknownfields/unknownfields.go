// Package unknownfields has a feature file with a misspelt field; --with
// refuses it before building anything.
package unknownfields
