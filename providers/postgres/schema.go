package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/navius-dev/navius/providers"
)

// SchemaVersion is the version of the table layout this navius writes and
// reads. A table recorded with a newer version was upgraded by a newer
// navius, which this one must not write to.
const SchemaVersion = 1

// VersionTable records the schema version of each navius table, in the
// schema of the data table.
const VersionTable = "navius_schema_version"

// DDL returns the statements that create the data table and record its
// version, for DBAs who create the schema themselves (postgres.create_table
// false) and for navius on first start.
func DDL(tableName string) ([]string, error) {
	t, err := parseTable(tableName)
	if err != nil {
		return nil, err
	}
	return t.ddl(), nil
}

// The keys are compared bytewise (COLLATE "C"), so paging does not depend
// on the database's locale.
func (t table) ddl() []string {
	return []string{
		`CREATE TABLE ` + t.sql() + ` (
  collection text COLLATE "C" NOT NULL,
  key        text COLLATE "C" NOT NULL,
  value      bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection, key)
)`,
		`CREATE TABLE IF NOT EXISTS ` + t.sibling(VersionTable) + ` (
  table_name text PRIMARY KEY,
  version    integer NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`,
		fmt.Sprintf(`INSERT INTO %s (table_name, version) VALUES ('%s', %d) ON CONFLICT (table_name) DO NOTHING`, t.sibling(VersionTable), t.name, SchemaVersion),
	}
}

// lockKey serialises the schema check of instances starting together, so
// that two of them never race to create the table.
func (t table) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("navius schema " + t.String()))
	return int64(h.Sum64())
}

// ensureSchema checks the table and creates it when absent and allowed, in
// one transaction: a failed check writes nothing.
func (d *Database) ensureSchema(ctx context.Context, conn *pgx.Conn) error {
	t := d.st.table
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", t.lockKey()); err != nil {
		return err
	}
	var oid *uint32
	var kind *string
	if err := tx.QueryRow(ctx, "SELECT c.oid, c.relkind::text FROM pg_class c WHERE c.oid = to_regclass($1)", t.sql()).Scan(&oid, &kind); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if oid == nil {
		if !d.st.createTable {
			return providers.Invalid("postgres: table %s does not exist and postgres.create_table is false: create it (see the README's PostgreSQL section) or set postgres.create_table=true", t)
		}
		for _, stmt := range t.ddl() {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return schemaErr(t, err)
			}
		}
		return tx.Commit(ctx)
	}
	if *kind != "r" && *kind != "p" {
		return providers.Invalid("postgres: %s exists but is not a table: set postgres.table to another name", t)
	}
	if err := checkShape(ctx, tx, t, *oid); err != nil {
		return err
	}
	version, err := recordedVersion(ctx, tx, t)
	if err != nil {
		return err
	}
	switch {
	case version > SchemaVersion:
		return providers.Invalid("postgres: table %s has schema version %d, newer than this navius knows (%d): run a navius as new as the one that upgraded it", t, version, SchemaVersion)
	case version == 0 && d.st.createTable:
		if err := recordVersion(ctx, tx, t); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// recordVersion records the version of a table of the right shape that has
// no record (one created by hand). Without the privilege to do so it
// records nothing: the record guards upgrades, it is not needed to run.
func recordVersion(ctx context.Context, tx pgx.Tx, t table) error {
	sp, err := tx.Begin(ctx) // a savepoint: a refusal must not abort the check
	if err != nil {
		return err
	}
	for _, stmt := range t.ddl()[1:] {
		if _, err := sp.Exec(ctx, stmt); err != nil {
			_ = sp.Rollback(ctx)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42501" {
				return nil
			}
			return err
		}
	}
	return sp.Commit(ctx)
}

// recordedVersion reads the table's recorded schema version; 0 when none
// is recorded.
func recordedVersion(ctx context.Context, tx pgx.Tx, t table) (int, error) {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t.sibling(VersionTable)).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err := tx.QueryRow(ctx, "SELECT version FROM "+t.sibling(VersionTable)+" WHERE table_name = $1", t.name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// wantColumns is the shape navius reads and writes.
var wantColumns = []struct{ name, typ string }{
	{"collection", "text"},
	{"key", "text"},
	{"value", "bytea"},
	{"updated_at", "timestamp with time zone"},
}

// checkShape compares an existing table with the one navius would create:
// the four columns with their types, the primary key on (collection, key),
// and no other column that an insert without it would fail on.
func checkShape(ctx context.Context, tx pgx.Tx, t table, oid uint32) error {
	rows, err := tx.Query(ctx, `SELECT attname::text, format_type(atttypid, atttypmod), attnotnull AND NOT atthasdef
		FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, oid)
	if err != nil {
		return err
	}
	types := map[string]string{}
	var required []string
	for rows.Next() {
		var name, typ string
		var mandatory bool
		if err := rows.Scan(&name, &typ, &mandatory); err != nil {
			return err
		}
		types[name] = typ
		if mandatory {
			required = append(required, name)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	fix := "set postgres.table to another name, or migrate the table to navius's layout (see the README's PostgreSQL section)"
	known := map[string]bool{}
	for _, c := range wantColumns {
		known[c.name] = true
		got, ok := types[c.name]
		switch {
		case !ok:
			return providers.Invalid("postgres: table %s exists with another shape: it has no column %s (%s): %s", t, c.name, c.typ, fix)
		case got != c.typ:
			return providers.Invalid("postgres: table %s exists with another shape: column %s is %s, want %s: %s", t, c.name, got, c.typ, fix)
		}
	}
	for _, name := range required {
		if !known[name] {
			return providers.Invalid("postgres: table %s exists with another shape: column %s is NOT NULL without a default, and navius does not write it: %s", t, name, fix)
		}
	}
	var pk []string
	err = tx.QueryRow(ctx, `SELECT coalesce(array_agg(a.attname::text ORDER BY k.n), '{}')
		FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indisprimary`, oid).Scan(&pk)
	if err != nil {
		return err
	}
	if strings.Join(pk, ",") != "collection,key" {
		return providers.Invalid("postgres: table %s exists with another shape: its primary key is (%s), want (collection, key): %s", t, strings.Join(pk, ", "), fix)
	}
	return nil
}

// schemaErr explains a failure to create the schema.
func schemaErr(t table, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		return providers.Invalid("postgres: no permission to create table %s (%s): grant CREATE on the schema, or create the table as the README shows and set postgres.create_table=false", t, oneLine(pgErr.Message))
	}
	if errors.As(err, &pgErr) && pgErr.Code == "3F000" {
		return providers.Invalid("postgres: schema %q does not exist: create it (CREATE SCHEMA %s) or fix postgres.table", t.schema, t.schema)
	}
	return err
}
