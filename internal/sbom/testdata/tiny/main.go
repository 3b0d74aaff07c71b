// Command tiny imports nothing: the cheapest binary to cross-compile, for
// tests that need one object format or another.
package main

func main() {}
