package postgres_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/enginetest"
	"github.com/coffer-dev/coffer/internal/engine/postgres"
	"github.com/coffer-dev/coffer/internal/testenv"
)

var fixture = []string{
	`CREATE SCHEMA app`,
	`CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy')`,
	`CREATE DOMAIN app.positive AS integer CHECK (VALUE > 0)`,
	`CREATE TABLE app.kinds (
		id serial PRIMARY KEY,
		n numeric(40, 10), f8 float8, f4 real, i8 bigint,
		t text, vc varchar(20), ch char(3),
		b bytea, j json, jb jsonb,
		ts timestamp, tz timestamptz, d date, tm time, iv interval,
		u uuid, arr int[], tarr text[], mood app.mood, pos app.positive, ok boolean, ip inet, m money,
		gen text GENERATED ALWAYS AS (upper(t)) STORED)`,
	`INSERT INTO app.kinds (n, f8, f4, i8, t, vc, ch, b, j, jb, ts, tz, d, tm, iv, u, arr, tarr, mood, pos, ok, ip, m) VALUES
		(123456789012345678901234567890.0123456789, 0.1, 3.25, 9223372036854775807, 'Grüße, 世界, 🎉', 'abc', 'x', '\x00ff10'::bytea,
		 '{"b": 1, "a": [1, 2]}', '{"b": 1, "a": [1, 2, {"c": null}]}', '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.123456+05:30',
		 '2024-02-29', '13:14:15.5', '1 year 2 mons 3 days 04:05:06.7', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2,NULL}', '{"a b","c,d","é"}',
		 'happy', 7, true, '192.168.0.1/24', 12.34),
		(-0.0000000001, 'NaN', '-Infinity', -9223372036854775808, '', '', '', '', 'null', '[]', '-infinity', 'infinity',
		 '0001-01-01', '00:00', '-1 day', '00000000-0000-0000-0000-000000000000', '{}', '{}', 'sad', 1, false, '::1', -0.01),
		(NULL, 1e-308, NULL, NULL, E'tab\there\nnewline ''quote'' \\back', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
	`DELETE FROM app.kinds WHERE id = 2`,
	`INSERT INTO app.kinds (t, f8) VALUES ('after delete', 2.5e300)`,
	`CREATE INDEX kinds_t ON app.kinds (t)`,
	`CREATE INDEX kinds_jb ON app.kinds USING gin (jb)`,
	`CREATE UNIQUE INDEX kinds_u ON app.kinds (u) WHERE u IS NOT NULL`,
	`COMMENT ON TABLE app.kinds IS 'every type we care about'`,
	`CREATE TABLE big (id int PRIMARY KEY, payload bytea NOT NULL, note text NOT NULL)`,
	`INSERT INTO big SELECT 1, decode(string_agg(md5(g::text), ''), 'hex'), repeat('é', 400000) FROM generate_series(1, 131072) g`,
	`INSERT INTO big VALUES (2, '\xdeadbeef', 'small')`,
	`CREATE TABLE nopk (a text, b float8)`,
	`INSERT INTO nopk VALUES ('dup', 1.5), ('dup', 1.5), ('other', NULL)`,
	`CREATE SEQUENCE app.counter START 100 INCREMENT 5`,
	`SELECT nextval('app.counter'), nextval('app.counter')`,
	`CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz NOT NULL, region text NOT NULL) PARTITION BY LIST (region)`,
	`CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu')`,
	`CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us')`,
	`INSERT INTO events (at, region) SELECT timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 1000) g`,
	`CREATE VIEW app.kinds_text AS SELECT id, t FROM app.kinds WHERE t IS NOT NULL`,
	`CREATE MATERIALIZED VIEW event_counts AS SELECT region, count(*) AS n FROM events GROUP BY region`,
	`CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := NEW.note || '!'; RETURN NEW; END $$`,
	`CREATE TRIGGER big_touch BEFORE UPDATE ON big FOR EACH ROW EXECUTE FUNCTION app.touch()`,
}

func check(t *testing.T, db *sql.DB) {
	one := func(query string, want any) {
		t.Helper()
		var got string
		if err := db.QueryRow(query).Scan(&got); err != nil {
			t.Errorf("%s: %v", query, err)
			return
		}
		if w := fmt.Sprint(want); got != w {
			t.Errorf("%s = %q, want %q", query, got, w)
		}
	}
	one(`SELECT t FROM app.kinds WHERE i8 = 9223372036854775807`, "Grüße, 世界, 🎉")
	one(`SELECT n::text FROM app.kinds WHERE i8 = 9223372036854775807`, "123456789012345678901234567890.0123456789")
	one(`SELECT tz::text FROM app.kinds WHERE i8 = 9223372036854775807`, "2024-02-29 18:29:59.123456+00")
	one(`SELECT jb::text FROM app.kinds WHERE i8 = 9223372036854775807`, `{"a": [1, 2, {"c": null}], "b": 1}`)
	one(`SELECT j::text FROM app.kinds WHERE i8 = 9223372036854775807`, `{"b": 1, "a": [1, 2]}`)
	one(`SELECT gen = upper(t) AND gen <> t FROM app.kinds WHERE i8 = 9223372036854775807`, true)
	one(`SELECT md5(payload) = (SELECT md5(decode(string_agg(md5(g::text), ''), 'hex')) FROM generate_series(1, 131072) g) FROM big WHERE id = 1`, true)
	one(`SELECT length(note) FROM big WHERE id = 1`, 400000)
	// serial and identity continue after the highest value handed out.
	one(`INSERT INTO app.kinds (t) VALUES ('next') RETURNING id`, 5)
	one(`INSERT INTO events (at, region) VALUES (now(), 'eu') RETURNING id`, 1001)
	one(`SELECT nextval('app.counter')`, 110)
	one(`SELECT count(*) FROM app.kinds_text`, 4)
	one(`SELECT n FROM event_counts WHERE region = 'eu'`, 333)
	one(`SELECT count(*) FROM pg_indexes WHERE indexname IN ('kinds_t', 'kinds_jb', 'kinds_u', 'kinds_pkey', 'big_pkey')`, 5)
	one(`SELECT obj_description('app.kinds'::regclass)`, "every type we care about")
	one(`UPDATE big SET note = 'x' WHERE id = 2 RETURNING note`, "x!")
}

type harness struct {
	srv *testenv.PostgresServer
	n   atomic.Int64
}

func (h *harness) target(t *testing.T) engine.Target {
	name := fmt.Sprintf("db%d", h.n.Add(1))
	h.srv.CreateDatabase(t, name)
	return engine.Target{Host: h.srv.Host, Port: h.srv.Port, Database: name, User: h.srv.User, Password: h.srv.Password, SSLMode: "disable"}
}

func (h *harness) open(t *testing.T, tg engine.Target) *sql.DB {
	db, err := sql.Open("pgx", h.srv.DSN(tg.Database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newEngine(t *testing.T, opts postgres.Options) *postgres.Engine {
	t.Helper()
	e, err := postgres.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSuite(t *testing.T) {
	h := &harness{srv: testenv.StartPostgres(t)}
	enginetest.Run(t, enginetest.Harness{
		Engine:      newEngine(t, postgres.Options{TempDir: t.TempDir()}),
		NewTarget:   h.target,
		Open:        h.open,
		Fixture:     fixture,
		Check:       check,
		TableName:   func(s string) string { return "public." + s },
		Unreachable: engine.Target{Host: "127.0.0.1", Port: testenv.FreePort(t), Database: "gone", User: "coffer", Password: "unreachable-secret-pw", SSLMode: "disable"},
	})
}

// TestRestoreAsInstanceRole restores the fixture as an instance's own,
// unprivileged master user, into a database it owns, and into another
// through the administrator with Target.Role: the restored objects belong
// to the instance role either way.
func TestRestoreAsInstanceRole(t *testing.T) {
	srv := testenv.StartPostgres(t)
	h := &harness{srv: srv}
	e := newEngine(t, postgres.Options{})
	src := h.target(t)
	mustExec(t, h.open(t, src), fixture...)
	var buf bytes.Buffer
	md, err := e.Snapshot(context.Background(), src, &buf)
	if err != nil {
		t.Fatal(err)
	}
	// Both checksum paths are in use: value hashes, and row text for the
	// table with json and money columns, which have no hash function.
	for _, tb := range md.Tables {
		want := "r:"
		if tb.Name == "app.kinds" {
			want = "t:"
		}
		if !strings.HasPrefix(tb.Checksum, want) {
			t.Errorf("table %s checksum %s, want prefix %s", tb.Name, tb.Checksum, want)
		}
	}
	admin := h.open(t, engine.Target{Database: "postgres"})
	mustExec(t, admin,
		`CREATE ROLE inst1 LOGIN PASSWORD 'inst1: pass\word'`,
		`CREATE DATABASE inst1 OWNER inst1 TEMPLATE template0`,
		`REVOKE CONNECT ON DATABASE inst1 FROM PUBLIC`,
		`CREATE ROLE inst2 NOLOGIN`,
		`CREATE DATABASE inst2 OWNER inst2 TEMPLATE template0`)
	for _, tg := range []engine.Target{
		{Host: srv.Host, Port: srv.Port, Database: "inst1", User: "inst1", Password: `inst1: pass\word`, SSLMode: "disable"},
		{Host: srv.Host, Port: srv.Port, Database: "inst2", User: srv.User, Password: srv.Password, SSLMode: "disable", Role: "inst2"},
	} {
		t.Run(tg.Database, func(t *testing.T) {
			if err := e.Restore(context.Background(), tg, bytes.NewReader(buf.Bytes()), md); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if _, err := e.Verify(context.Background(), tg, md); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			db := h.open(t, tg)
			var owners string
			if err := db.QueryRow(`SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner), ',') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'app')`).Scan(&owners); err != nil {
				t.Fatal(err)
			}
			if owners != tg.Database {
				t.Errorf("restored objects owned by %q, want %q", owners, tg.Database)
			}
		})
	}
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestTools points the engine at bin directories without usable tools.
func TestTools(t *testing.T) {
	srv := testenv.StartPostgres(t)
	h := &harness{srv: srv}
	src := h.target(t)
	mustExec(t, h.open(t, src), `CREATE TABLE t (x int)`)
	md, err := newEngine(t, postgres.Options{}).Snapshot(context.Background(), src, io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	empty := t.TempDir()
	old := t.TempDir()
	for _, name := range []string{"pg_dump", "pg_restore"} {
		script := "#!/bin/sh\necho '" + name + " (PostgreSQL) 9.6.24'\n"
		if err := os.WriteFile(filepath.Join(old, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, dir string
		want      error
		says      []string
	}{
		{"missing", empty, engine.ErrToolMissing, []string{"not found", empty, "postgresql-client-15"}},
		{"too old", old, engine.ErrToolVersion, []string{"9.6 at " + old, "older than the server (PostgreSQL 15.", "postgresql-client-15"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, postgres.Options{BinDir: tc.dir})
			ctx := context.Background()
			errs := map[string]error{"Ready": e.Ready(ctx, src)}
			_, errs["Snapshot"] = e.Snapshot(ctx, src, io.Discard)
			errs["Restore"] = e.Restore(ctx, h.target(t), bytes.NewReader(nil), md)
			for op, err := range errs {
				if !errors.Is(err, tc.want) {
					t.Errorf("%s = %v, want %v", op, err, tc.want)
					continue
				}
				for _, s := range tc.says {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s error %q does not say %q", op, err, s)
					}
				}
			}
			t.Logf("%v", errs["Snapshot"])
		})
	}
}

// TestPasswordNotInArgs runs pg_dump and pg_restore through wrappers that
// record their arguments and environment, then run the real tools.
func TestPasswordNotInArgs(t *testing.T) {
	srv := testenv.StartPostgres(t)
	h := &harness{srv: srv}
	bin := t.TempDir()
	logDir := t.TempDir()
	for _, name := range []string{"pg_dump", "pg_restore"} {
		script := fmt.Sprintf(`#!/bin/sh
printf '%%s\n' "$@" > %[1]s/%[2]s.args
env > %[1]s/%[2]s.env
if [ -n "$PGPASSFILE" ]; then stat -c %%a "$PGPASSFILE" > %[1]s/%[2]s.mode; fi
exec %[3]s/%[2]s "$@"
`, logDir, name, srv.BinDir)
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PGPASSWORD", "leaked-from-environment")
	e := newEngine(t, postgres.Options{BinDir: bin})
	src := h.target(t)
	mustExec(t, h.open(t, src), `CREATE TABLE t (x int)`, `INSERT INTO t VALUES (1)`)
	var buf bytes.Buffer
	md, err := e.Snapshot(context.Background(), src, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(context.Background(), h.target(t), &buf, md); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pg_dump", "pg_restore"} {
		args, _ := os.ReadFile(filepath.Join(logDir, name+".args"))
		env, _ := os.ReadFile(filepath.Join(logDir, name+".env"))
		mode, _ := os.ReadFile(filepath.Join(logDir, name+".mode"))
		if len(args) == 0 || len(env) == 0 {
			t.Fatalf("%s wrapper did not run", name)
		}
		if strings.Contains(string(args), srv.Password) || strings.Contains(string(env), srv.Password) {
			t.Errorf("%s got the password in its arguments or environment", name)
		}
		if strings.Contains(string(env), "PGPASSWORD") {
			t.Errorf("%s inherited PGPASSWORD", name)
		}
		if strings.TrimSpace(string(mode)) != "600" {
			t.Errorf("%s passfile mode = %q, want 600", name, mode)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "coffer-pgpass-*")); len(left) > 0 {
		t.Errorf("password files left behind: %v", left)
	}
}

// failingWriter fails after n bytes, as a vault whose storage broke.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("vault storage full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestSnapshotConsumerFails(t *testing.T) {
	srv := testenv.StartPostgres(t)
	h := &harness{srv: srv}
	src := h.target(t)
	mustExec(t, h.open(t, src), `CREATE TABLE t AS SELECT g, md5(g::text) FROM generate_series(1, 200000) g`)
	_, err := newEngine(t, postgres.Options{}).Snapshot(context.Background(), src, &failingWriter{n: 100000})
	if err == nil || !strings.Contains(err.Error(), "vault storage full") {
		t.Fatalf("Snapshot = %v, want the writer's error", err)
	}
}

func TestCompressed(t *testing.T) {
	srv := testenv.StartPostgres(t)
	h := &harness{srv: srv}
	src := h.target(t)
	mustExec(t, h.open(t, src), `CREATE TABLE t AS SELECT g, repeat('abc', 100) AS s FROM generate_series(1, 20000) g`)
	sizes := map[int]int64{}
	for _, level := range []int{0, 6} {
		e := newEngine(t, postgres.Options{Compress: level})
		var buf bytes.Buffer
		md, err := e.Snapshot(context.Background(), src, &buf)
		if err != nil {
			t.Fatal(err)
		}
		sizes[level] = md.StreamSize
		dst := h.target(t)
		if err := e.Restore(context.Background(), dst, &buf, md); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Verify(context.Background(), dst, md); err != nil {
			t.Fatal(err)
		}
	}
	if sizes[6] >= sizes[0]/4 {
		t.Errorf("compressed stream %d bytes, uncompressed %d: not compressed", sizes[6], sizes[0])
	}
	if _, err := postgres.New(postgres.Options{Compress: 10}); err == nil {
		t.Error("compress level 10 accepted")
	}
}

// TestChecksumWholeRow checks that every column counts, also when a
// column shares its name with the alias the checksum query uses.
func TestChecksumWholeRow(t *testing.T) {
	srv := testenv.StartPostgres(t)
	h := &harness{srv: srv}
	e := newEngine(t, postgres.Options{})
	for _, col := range []string{"r", "t", "s", "x"} {
		t.Run(col, func(t *testing.T) {
			src := h.target(t)
			db := h.open(t, src)
			mustExec(t, db, fmt.Sprintf(`CREATE TABLE tab (%s int, other text)`, col), `INSERT INTO tab VALUES (1, 'a'), (2, 'b')`)
			md, err := e.Snapshot(context.Background(), src, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			mustExec(t, db, `UPDATE tab SET other = 'A' WHERE other = 'a'`)
			if _, err := e.Verify(context.Background(), src, md); !errors.Is(err, engine.ErrMismatch) {
				t.Fatalf("Verify after changing another column = %v, want ErrMismatch", err)
			}
		})
	}
}
