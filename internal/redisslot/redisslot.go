// Package redisslot is Redis Cluster's hash slot of a key, for the redis
// provider (providers/redis) and the test clusters of internal/redistest.
// It imports nothing of navius, so the provider brings no more with it.
package redisslot

import "strings"

// HashTag is the part of key that Redis Cluster hashes: its tag (the text
// between its first '{' and the next '}', when not empty), or all of it.
func HashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// Of is Redis Cluster's slot of a key: CRC16 (XMODEM) of its hash tag
// (HashTag), modulo 16384.
func Of(key string) uint16 {
	key = HashTag(key)
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}
