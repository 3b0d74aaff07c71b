module example.com/navius-fsdb

go 1.26.0

require github.com/navius-dev/navius v0.0.0-00010101000000-000000000000

// The example builds against the navius tree it sits in. A provider in a
// repository of its own requires a released navius version instead (and
// `navius build --with` points this requirement at the navius tree that
// builds it).
replace github.com/navius-dev/navius => ../..
