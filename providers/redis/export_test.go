package redis

import (
	"context"

	"github.com/navius-dev/navius/providers"
)

// Bucket is the name of a collection's bucket hash b, for tests.
func Bucket(db providers.Database, coll string, b int) string { return db.(*Database).bucket(coll, b) }

// Buckets is how many bucket hashes a collection has.
func Buckets(db providers.Database) int { return db.(*Database).buckets }

// WriteTwice runs the write script for op twice with the same arguments,
// as go-redis does when it resends a command whose reply timed out, and
// returns what each call reports.
func WriteTwice(ctx context.Context, db providers.Database, op providers.BatchOp) (errs [2]error) {
	d := db.(*Database)
	keys, args, res := d.writeArgs([]providers.BatchOp{op})
	for i := range errs {
		reply, err := runScript(ctx, d.client, writeScript, keys, args...).Slice()
		if err == nil {
			err = writeReply(reply, res)
		}
		errs[i] = err
	}
	return errs
}
