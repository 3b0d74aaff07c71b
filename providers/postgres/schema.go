package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/navius-dev/navius/providers"
)

// SchemaVersion is the version of the table layout this navius writes and
// reads. A table recorded with a newer version was upgraded by a newer
// navius, which this one must not write to.
//
//   - 1: collection, key, value, updated_at.
//   - 2: adds version (bigint NOT NULL DEFAULT 0: the entry's version, a
//     random 64-bit number from providers.NewVersion on every write; 0 for
//     rows written by version 1, reported as providers.LegacyVersion) and
//     expires_at (timestamptz, NULL for no expiry), with a partial index on
//     expires_at for the sweep. navius upgrades a version-1 table at start,
//     under the schema lock, in one transaction (UpgradeDDL); existing rows
//     keep their values, with version 0 and no expiry.
const SchemaVersion = 2

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

// UpgradeDDL returns the statements that upgrade a table of schema version
// 1 to SchemaVersion, for DBAs who own the schema; navius runs the same
// statements itself when postgres.create_table is true.
func UpgradeDDL(tableName string) ([]string, error) {
	t, err := parseTable(tableName)
	if err != nil {
		return nil, err
	}
	return t.upgradeDDL(), nil
}

// The keys are compared bytewise (COLLATE "C"), so paging does not depend
// on the database's locale.
func (t table) ddl() []string {
	return append([]string{
		`CREATE TABLE ` + t.sql() + ` (
  collection text COLLATE "C" NOT NULL,
  key        text COLLATE "C" NOT NULL,
  value      bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    bigint NOT NULL DEFAULT 0,
  expires_at timestamptz,
  PRIMARY KEY (collection, key)
)`,
		t.expiryIndexDDL(),
	}, t.recordDDL()...)
}

// upgradeDDL takes a version-1 table to version 2. Adding a column with a
// constant default changes only the catalog; building the partial index
// reads the table once (every row has a NULL expiry, so the index is empty).
func (t table) upgradeDDL() []string {
	return append([]string{
		`ALTER TABLE ` + t.sql() + ` ADD COLUMN version bigint NOT NULL DEFAULT 0, ADD COLUMN expires_at timestamptz`,
		t.expiryIndexDDL(),
	}, t.recordDDL()...)
}

// upgradeHint is upgradeDDL on one line, for an error message.
func (t table) upgradeHint() string {
	return strings.Join(strings.Fields(strings.Join(t.upgradeDDL(), "; ")), " ")
}

// expiryIndexDDL makes the sweep's index: only entries with an expiry.
func (t table) expiryIndexDDL() string {
	const suffix = "_expires_at"
	name := t.name
	if len(name)+len(suffix) > 63 { // PostgreSQL would cut the name itself, with a notice
		name = name[:63-len(suffix)]
	}
	return `CREATE INDEX ` + pgx.Identifier{name + suffix}.Sanitize() + ` ON ` + t.sql() + ` (expires_at) WHERE expires_at IS NOT NULL`
}

// recordDDL records the table's schema version.
func (t table) recordDDL() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + t.sibling(VersionTable) + ` (
  table_name text PRIMARY KEY,
  version    integer NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`,
		fmt.Sprintf(`INSERT INTO %s (table_name, version) VALUES ('%s', %d) ON CONFLICT (table_name) DO UPDATE SET version = EXCLUDED.version, updated_at = now()`, t.sibling(VersionTable), t.name, SchemaVersion),
	}
}

// lockKey serialises the schema check of instances starting together, so
// that two of them never race to create the table.
func (t table) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("navius schema " + t.String()))
	return int64(h.Sum64())
}

// migrateTimeout bounds an upgrade of the table's layout: building the
// expiry index reads the whole table once, which may take longer than a
// statement may (postgres.statement_timeout) on a large table.
const migrateTimeout = 10 * time.Minute

// keyLock is the advisory lock a batch takes on a key of the table.
func (t table) keyLock(coll, key string) int64 {
	h := fnv.New64a()
	h.Write([]byte("navius key " + t.String() + "\x00" + coll + "\x00"))
	h.Write([]byte(key))
	return int64(h.Sum64())
}

// ensureSchema checks the table and creates it when absent, or upgrades it
// from an older layout, when allowed; all in one transaction under the
// schema lock: a failed check writes nothing, and instances starting
// together create or upgrade the table once. check bounds the check; an
// upgrade runs under ctx with migrateTimeout instead.
func (d *Database) ensureSchema(ctx, check context.Context, conn *pgx.Conn) error {
	t := d.st.table
	tx, err := conn.Begin(check)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(check, "SELECT pg_advisory_xact_lock($1)", t.lockKey()); err != nil {
		return err
	}
	var oid *uint32
	var kind *string
	if err := tx.QueryRow(check, "SELECT c.oid, c.relkind::text FROM pg_class c WHERE c.oid = to_regclass($1)", t.sql()).Scan(&oid, &kind); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if oid == nil {
		if !d.st.createTable {
			return providers.Invalid("postgres: table %s does not exist and postgres.create_table is false: create it (see providers/postgres/README.md, Schema) or set postgres.create_table=true", t)
		}
		for _, stmt := range t.ddl() {
			if _, err := tx.Exec(check, stmt); err != nil {
				return schemaErr(t, err)
			}
		}
		return tx.Commit(check)
	}
	if *kind != "r" && *kind != "p" {
		return providers.Invalid("postgres: %s exists but is not a table: set postgres.table to another name", t)
	}
	layout, err := checkShape(check, tx, t, *oid)
	if err != nil {
		return err
	}
	version, err := recordedVersion(check, tx, t)
	if err != nil {
		return err
	}
	switch {
	case version > SchemaVersion:
		return providers.Invalid("postgres: table %s has schema version %d, newer than this navius knows (%d): run a navius as new as the one that upgraded it", t, version, SchemaVersion)
	case layout < version:
		return providers.Invalid("postgres: table %s is recorded as schema version %d but has the columns of version %d (no version and expires_at): restore the columns, or set postgres.table to another name", t, version, layout)
	case layout < SchemaVersion && !d.st.createTable:
		return providers.Invalid("postgres: table %s has schema version %d, older than this navius needs (%d), and postgres.create_table is false: upgrade it with %s; or set postgres.create_table=true and navius upgrades it", t, layout, SchemaVersion, t.upgradeHint())
	case layout < SchemaVersion:
		mctx, cancel := context.WithTimeout(ctx, migrateTimeout)
		defer cancel()
		if err := upgrade(mctx, tx, t); err != nil {
			return err
		}
		return tx.Commit(mctx)
	case version < SchemaVersion && d.st.createTable:
		if err := recordVersion(check, tx, t); err != nil {
			return err
		}
	}
	return tx.Commit(check)
}

// upgrade takes a version-1 table to SchemaVersion inside the schema
// check's transaction. Running navius instances of version 1 keep writing
// through the new columns' defaults: their writes do not change versions,
// so stop them before the first newer instance starts.
func upgrade(ctx context.Context, tx pgx.Tx, t table) error {
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
		return err
	}
	for _, stmt := range t.upgradeDDL() {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42501" {
				return providers.Invalid("postgres: no permission to upgrade table %s to schema version %d (%s): start navius once as the table's owner, or have its owner run %s", t, SchemaVersion, oneLine(pgErr.Message), t.upgradeHint())
			}
			return err
		}
	}
	return nil
}

// recordVersion records the version of a table of the right shape that has
// no record, or an older one (one created or upgraded by hand). Without the
// privilege to do so it records nothing: the record guards upgrades, it is
// not needed to run.
func recordVersion(ctx context.Context, tx pgx.Tx, t table) error {
	sp, err := tx.Begin(ctx) // a savepoint: a refusal must not abort the check
	if err != nil {
		return err
	}
	for _, stmt := range t.recordDDL() {
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

// column is a column of navius's layout.
type column struct {
	name, typ string
	nullable  bool // navius writes NULL into it
}

// layoutColumns are the columns of each schema version's layout, added to
// those of the versions before.
var layoutColumns = [][]column{
	1: {{name: "collection", typ: "text"}, {name: "key", typ: "text"}, {name: "value", typ: "bytea"}, {name: "updated_at", typ: "timestamp with time zone"}},
	2: {{name: "version", typ: "bigint"}, {name: "expires_at", typ: "timestamp with time zone", nullable: true}},
}

// checkShape compares an existing table with the one navius would create
// and returns the schema version whose layout it has: all the columns of
// that version with their types, the primary key on (collection, key), and
// no other column that an insert without it would fail on. A table that
// has none of a version's columns has the layout before it (and may be
// upgraded); one that has some of them has another shape.
func checkShape(ctx context.Context, tx pgx.Tx, t table, oid uint32) (int, error) {
	rows, err := tx.Query(ctx, `SELECT attname::text, format_type(atttypid, atttypmod), attnotnull, attnotnull AND NOT atthasdef
		FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, oid)
	if err != nil {
		return 0, err
	}
	type attr struct {
		typ     string
		notNull bool
	}
	attrs := map[string]attr{}
	var required []string
	for rows.Next() {
		var name string
		var a attr
		var mandatory bool
		if err := rows.Scan(&name, &a.typ, &a.notNull, &mandatory); err != nil {
			return 0, err
		}
		attrs[name] = a
		if mandatory {
			required = append(required, name)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	fix := "set postgres.table to another name, or migrate the table to navius's layout (see providers/postgres/README.md, Schema)"
	known := map[string]bool{}
	layout := 0
	for v := 1; v < len(layoutColumns); v++ {
		present := 0
		for _, c := range layoutColumns[v] {
			if _, ok := attrs[c.name]; ok {
				present++
			}
		}
		if v > 1 && present == 0 {
			break // an older layout
		}
		for _, c := range layoutColumns[v] {
			known[c.name] = true
			got, ok := attrs[c.name]
			switch {
			case !ok:
				return 0, providers.Invalid("postgres: table %s exists with another shape: it has no column %s (%s): %s", t, c.name, c.typ, fix)
			case got.typ != c.typ:
				return 0, providers.Invalid("postgres: table %s exists with another shape: column %s is %s, want %s: %s", t, c.name, got.typ, c.typ, fix)
			case c.nullable && got.notNull:
				return 0, providers.Invalid("postgres: table %s exists with another shape: column %s is NOT NULL, and navius writes NULL into it: %s", t, c.name, fix)
			}
		}
		layout = v
	}
	for _, name := range required {
		if !known[name] {
			return 0, providers.Invalid("postgres: table %s exists with another shape: column %s is NOT NULL without a default, and navius does not write it: %s", t, name, fix)
		}
	}
	var pk []string
	err = tx.QueryRow(ctx, `SELECT coalesce(array_agg(a.attname::text ORDER BY k.n), '{}')
		FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indisprimary`, oid).Scan(&pk)
	if err != nil {
		return 0, err
	}
	if strings.Join(pk, ",") != "collection,key" {
		return 0, providers.Invalid("postgres: table %s exists with another shape: its primary key is (%s), want (collection, key): %s", t, strings.Join(pk, ", "), fix)
	}
	return layout, nil
}

// schemaErr explains a failure to create the schema.
func schemaErr(t table, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		return providers.Invalid("postgres: no permission to create table %s (%s): grant CREATE on the schema, or create the table as providers/postgres/README.md shows and set postgres.create_table=false", t, oneLine(pgErr.Message))
	}
	if errors.As(err, &pgErr) && pgErr.Code == "3F000" {
		return providers.Invalid("postgres: schema %q does not exist: create it (CREATE SCHEMA %s) or fix postgres.table", t.schema, t.schema)
	}
	return err
}
