// Command hello is a small static binary for the serverimage tests.
package main

import "fmt"

func main() { fmt.Println("hello") }
