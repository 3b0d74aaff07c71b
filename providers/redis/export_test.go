package redis

import "github.com/navius-dev/navius/providers"

// Bucket is the name of a collection's bucket hash b, for tests.
func Bucket(db providers.Database, coll string, b int) string { return db.(*Database).bucket(coll, b) }

// Buckets is how many bucket hashes a collection has.
func Buckets(db providers.Database) int { return db.(*Database).buckets }
