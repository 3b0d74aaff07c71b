// Package postgres provides a database on PostgreSQL (pgx v5, pgxpool) for
// postgres:// and postgresql:// URLs: one table of (collection, key, value,
// updated_at) walked by keyset paging on its primary key, and a change feed
// over LISTEN/NOTIFY so that navius instances sharing one PostgreSQL drop
// their local cache entries when another instance writes.
package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/navius-dev/navius/providers"
)

// Options are the postgres feature's config options.
var Options = []providers.Option{
	{Key: "postgres.password", Type: providers.String, Secret: true, Description: "Password; overrides the one in the URL. Prefer NAVIUS_POSTGRES_PASSWORD to a URL or file."},
	{Key: "postgres.table", Type: providers.String, Default: "navius_kv", Description: "Table that holds the data: a lower-case name, optionally schema-qualified (app.navius_kv), at most 63 bytes in all. It is also the LISTEN/NOTIFY channel of the change feed."},
	{Key: "postgres.create_table", Type: providers.Bool, Default: "true", Description: "Create the table and record its schema version at start when it is absent; false for teams whose DBAs own the schema (navius then only checks the table's shape)."},
	{Key: "postgres.connect_timeout", Type: providers.Duration, Default: "2s", Min: "1ms", Description: "Time to open a connection (TCP, TLS and authentication); at most database.timeout. Overrides the URL's connect_timeout."},
	{Key: "postgres.statement_timeout", Type: providers.Duration, Default: "5s", Description: "Server-side limit on each statement (statement_timeout), so that work a client gave up on stops on the server too; 0 for none."},
	{Key: "postgres.notify", Type: providers.Enum, Default: "after_write", Enum: []string{"after_write", "with_write", "off"},
		Description: "How writes are announced (NOTIFY) to the other instances, so that they drop cached copies: after_write in a transaction of its own right after the write commits and before it is acknowledged; with_write in the write's own transaction, so that no committed write goes unannounced even if navius dies in between, at the price that PostgreSQL serialises the commits of all notifying writers (flush included); off for a single instance or when no instance caches locally."},
	{Key: "postgres.fallback_ttl", Type: providers.Duration, Default: "1s", Description: "While the change feed (LISTEN) is down, local cache entries in front of the database live at most this long, since other instances' writes may be missed."},
}

// notifyMode is when a write is announced to the other instances.
type notifyMode int

const (
	notifyAfterWrite notifyMode = iota // a NOTIFY of its own after the write commits
	notifyWithWrite                    // in the write's statement and transaction
	notifyOff
)

// settings are the provider's resolved settings.
type settings struct {
	table       table
	notify      notifyMode
	createTable bool
	fallbackTTL time.Duration
	stmtTimeout time.Duration
	connTimeout time.Duration
	secrets     []string // kept out of every message
}

func readSettings(cfg providers.DatabaseConfig) (settings, error) {
	s := cfg.Settings
	st := settings{
		createTable: s.String("postgres.create_table") == "" || s.Bool("postgres.create_table"),
		fallbackTTL: s.Duration("postgres.fallback_ttl"),
		stmtTimeout: s.Duration("postgres.statement_timeout"),
		connTimeout: s.Duration("postgres.connect_timeout"),
	}
	if st.fallbackTTL <= 0 {
		st.fallbackTTL = time.Second
	}
	switch s.String("postgres.notify") {
	case "with_write":
		st.notify = notifyWithWrite
	case "off":
		st.notify = notifyOff
	}
	if st.connTimeout <= 0 {
		st.connTimeout = 2 * time.Second
	}
	if cfg.Timeout > 0 && st.connTimeout > cfg.Timeout {
		st.connTimeout = cfg.Timeout
	}
	name := s.String("postgres.table")
	if name == "" {
		name = "navius_kv"
	}
	t, err := parseTable(name)
	if err != nil {
		return st, err
	}
	st.table = t
	return st, nil
}

// table is the data table's name, and its schema when qualified.
type table struct {
	schema, name string
}

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func parseTable(v string) (table, error) {
	var t table
	parts := strings.Split(v, ".")
	ok := len(v) <= 63 && len(parts) <= 2
	for _, p := range parts {
		ok = ok && identRE.MatchString(p)
	}
	if !ok {
		return t, providers.Invalid("postgres.table %q is not a table name: use lower-case letters, digits and '_', optionally after a schema and a dot (app.navius_kv), at most 63 bytes", v)
	}
	if len(parts) == 2 {
		t.schema = parts[0]
	}
	t.name = parts[len(parts)-1]
	return t, nil
}

// String is the name as configured; it is also the NOTIFY channel.
func (t table) String() string {
	if t.schema != "" {
		return t.schema + "." + t.name
	}
	return t.name
}

// sql is the quoted identifier for statements.
func (t table) sql() string {
	if t.schema != "" {
		return pgx.Identifier{t.schema, t.name}.Sanitize()
	}
	return pgx.Identifier{t.name}.Sanitize()
}

// sibling is another table in the same schema, quoted.
func (t table) sibling(name string) string {
	if t.schema != "" {
		return pgx.Identifier{t.schema, name}.Sanitize()
	}
	return pgx.Identifier{name}.Sanitize()
}

// poolConfig turns the URL and the settings into a pgxpool config. The URL
// is libpq's, with its parameters as pgx parses them; the password may come
// from postgres.password instead. TLS follows sslmode, with the
// database.tls options on top; modes that fall back to plaintext without
// saying so (allow, prefer) are refused.
func poolConfig(cfg providers.DatabaseConfig, st *settings) (*pgxpool.Config, error) {
	raw := cfg.URL
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Opaque != "" {
		return nil, providers.Invalid("bad PostgreSQL URL %q: use postgres://user:password@host:5432/database?sslmode=verify-full", providers.Redact(raw))
	}
	q := u.Query()
	if pw, ok := u.User.Password(); ok && pw != "" {
		st.secrets = append(st.secrets, pw)
	}
	for _, k := range []string{"password", "sslpassword"} {
		if v := q.Get(k); v != "" {
			st.secrets = append(st.secrets, v)
		}
	}
	for _, v := range []string{cfg.Settings.String("postgres.password"), os.Getenv("PGPASSWORD")} {
		if v != "" {
			st.secrets = append(st.secrets, v)
		}
	}

	mode, err := sslMode(q.Get("sslmode"), cfg.TLS)
	if err != nil {
		return nil, err
	}
	q.Set("sslmode", mode)
	if cfg.TLS.Enabled {
		// The files become libpq's parameters, so that sslmode keeps
		// libpq's meaning (require with a CA verifies the chain, as
		// verify-ca does); reading them first gives errors that name
		// the option.
		if _, err := cfg.TLS.Config("database", ""); err != nil {
			return nil, err
		}
		for k, v := range map[string]string{"sslrootcert": cfg.TLS.CAFile, "sslcert": cfg.TLS.CertFile, "sslkey": cfg.TLS.KeyFile} {
			if v != "" {
				q.Set(k, v)
			}
		}
	}
	u.RawQuery = q.Encode()

	pc, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, providers.Invalid("bad PostgreSQL URL %q: %s", providers.Redact(raw), st.scrub(parseErrReason(err)))
	}
	cc := pc.ConnConfig
	if v := cfg.Settings.String("postgres.password"); v != "" {
		cc.Password = v
	}
	cc.ConnectTimeout = st.connTimeout
	if _, set := cc.RuntimeParams["application_name"]; !set {
		cc.RuntimeParams["application_name"] = "navius"
	}
	if st.stmtTimeout > 0 {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(st.stmtTimeout.Milliseconds(), 10)
	}
	applyTLS(cc, cfg.TLS)
	if cfg.MaxConnections > 0 {
		pc.MaxConns = int32(min(cfg.MaxConnections, math.MaxInt32))
	}
	return pc, nil
}

// sslMode decides the sslmode to connect with: the URL's, else PGSSLMODE's
// (as libpq reads it), else verify-full when database.tls asks for TLS and
// disable otherwise. allow and prefer are refused: they fall back to an
// unencrypted connection without saying so.
func sslMode(fromURL string, t providers.TLSConfig) (string, error) {
	mode := fromURL
	if mode == "" {
		mode = os.Getenv("PGSSLMODE")
	}
	switch mode {
	case "":
		if t.Enabled {
			return "verify-full", nil
		}
		return "disable", nil
	case "allow", "prefer":
		return "", providers.Invalid("postgres: sslmode=%s may fall back to an unencrypted connection without saying so: use sslmode=verify-full (or require), or sslmode=disable on a trusted network", mode)
	case "disable":
		if t.Enabled {
			return "", providers.Invalid("postgres: database.tls options are set but sslmode=disable: use sslmode=verify-full, or drop the database.tls options")
		}
	case "require", "verify-ca", "verify-full":
	default:
		return "", providers.Invalid("postgres: sslmode=%q is not a mode: use disable, require, verify-ca or verify-full", mode)
	}
	return mode, nil
}

// applyTLS applies database.tls.server_name and insecure_skip_verify to
// every TLS config pgx built from sslmode (one per host of the URL).
func applyTLS(cc *pgx.ConnConfig, t providers.TLSConfig) {
	configs := []*pgconn.FallbackConfig{{TLSConfig: cc.TLSConfig}}
	configs = append(configs, cc.Fallbacks...)
	for _, fc := range configs {
		c := fc.TLSConfig
		if c == nil {
			continue
		}
		c.MinVersion = tls.VersionTLS12
		if t.ServerName != "" {
			c.ServerName = t.ServerName
		}
		if t.InsecureSkipVerify {
			c.InsecureSkipVerify, c.VerifyPeerCertificate = true, nil
		}
	}
}

// scrub removes the configured secrets from a message.
func (st *settings) scrub(msg string) string {
	for _, s := range st.secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}

// parseErrReason keeps pgx's reason and drops the connection string it
// quotes (the caller shows its own redacted copy).
func parseErrReason(err error) string {
	msg := err.Error()
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if i := strings.Index(msg, "`: "); strings.HasPrefix(msg, "cannot parse `") && i > 0 {
			msg = msg[i+3:]
		}
	}
	return oneLine(msg)
}

// oneLine joins the lines of a message (pgx joins one error per host tried
// with newlines).
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// startupError explains why the first connection failed, naming the fix.
// Problems with the configuration (credentials, database, TLS) are
// ErrInvalid, so navius exits with 2; a server that cannot be reached is
// ErrUnavailable.
func (st *settings) startupError(cc *pgx.ConnConfig, err error) error {
	where := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01":
			return providers.Invalid("postgres: password authentication failed for user %q at %s: check the password (in database.url or postgres.password)", cc.User, where)
		case "28000":
			if strings.Contains(pgErr.Message, "no encryption") {
				return providers.Invalid("postgres: %s accepts only TLS connections (%s): use sslmode=verify-full with database.tls.ca_file", where, oneLine(pgErr.Message))
			}
			return providers.Invalid("postgres: %s refused the connection: %s: allow this client in pg_hba.conf or fix the user in database.url", where, oneLine(pgErr.Message))
		case "3D000":
			return providers.Invalid("postgres: database %q does not exist on %s: create it (createdb %s) or fix the database in database.url", cc.Database, where, cc.Database)
		case "42501":
			return providers.Invalid("postgres: %s: grant the user the privilege, or connect as another user", oneLine(pgErr.Message))
		}
	}
	msg := st.scrub(oneLine(err.Error()))
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return providers.Unavailable("postgres", fmt.Errorf("no answer from %s within %s: check the host and port in database.url and that PostgreSQL is running", where, st.connTimeout))
	case strings.Contains(msg, "certificate"), strings.Contains(msg, "x509"):
		if i := strings.Index(msg, "x509: "); i >= 0 {
			msg = msg[i:] // the verification failure, without pgx's account of the attempt
		}
		return providers.Invalid("postgres: TLS to %s failed: %s: set database.tls.ca_file to the CA that signed the server's certificate (or sslrootcert in the URL), and connect by the name the certificate holds", where, msg)
	case strings.Contains(msg, "server refused TLS"):
		return providers.Invalid("postgres: %s does not offer TLS: turn ssl on in the server, or use sslmode=disable on a trusted network", where)
	}
	return providers.Unavailable("postgres", fmt.Errorf("cannot connect to %s: %s: check the host and port in database.url and that PostgreSQL is running", where, st.scrub(cause(err))))
}

// cause is the network error under pgx's account of a failed connection
// ("connect: connection refused", "lookup db.internal: no such host").
func cause(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return oneLine(err.Error())
}
