package harness

import "strconv"

// Increment is the update of the counters tests keep with the Go client's
// Update (client.Client.Update's fn): old, a decimal number, plus one. A
// missing key (old nil) counts from 0; a value that is not a number is an
// error, so that nothing is written.
func Increment(old []byte) ([]byte, error) {
	n := 0
	if old != nil {
		var err error
		if n, err = strconv.Atoi(string(old)); err != nil {
			return nil, err
		}
	}
	return []byte(strconv.Itoa(n + 1)), nil
}
