package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigilhq/vigil/internal/statedb"
	"github.com/vigilhq/vigil/membership"
	"github.com/vigilhq/vigil/overrides"
)

// drainedPerCluster is how many drains each cluster of a state test holds:
// enough that a cluster's drains span several pages.
const drainedPerCluster = 120

// stateSetup is a state_dir with drains in it and a config for it.
type stateSetup struct {
	dir, db, config, admin string
}

// newStateSetup writes drains for every instance of clusters "web" and
// "api" into a new state_dir, and a config probing them (at closed ports)
// with the given drain_period.
func newStateSetup(t *testing.T, drainPeriod string) stateSetup {
	t.Helper()
	root := t.TempDir()
	s := stateSetup{dir: filepath.Join(root, "state"), config: filepath.Join(root, "vigil.yaml"), admin: freeAddr(t)}
	s.db = filepath.Join(s.dir, overrides.FileName)
	store, err := overrides.Open(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "admin: { listen: %s }\nxds: { listen: 127.0.0.1:0 }\nstate_dir: %s\ndrain_period: %s\n",
		s.admin, s.dir, drainPeriod)
	yaml.WriteString("defaults: { interval: 5s, timeout: 1s }\nclusters:\n")
	for c, name := range []string{"web", "api"} {
		fmt.Fprintf(&yaml, "  - name: %s\n    readiness: { path: /ready }\n    instances:\n", name)
		var ids []string
		for i := range drainedPerCluster {
			id := fmt.Sprintf("%s-%03d", name, i)
			ids = append(ids, id)
			fmt.Fprintf(&yaml, "      - { id: %s, address: 127.0.0.%d:%d }\n", id, 2+c, 20000+i)
		}
		o := membership.Override{Reason: "rack " + name + " kernel upgrade", By: "alice", Since: time.Now()}
		if err := store.PutMany(name, ids, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.config, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// drainedIn lists the instances the admin API shows held by a manual drain.
func (s stateSetup) drainedIn(t *testing.T, cluster string) int {
	t.Helper()
	resp, err := httpClient.Get("http://" + s.admin + "/api/v1/clusters/" + cluster)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response body: nothing to lose
	var v clusterView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range v.Instances {
		if in.Status == "DRAINING" && strings.HasPrefix(in.Reason, "manual drain: ") {
			n++
		}
	}
	return n
}

// leafOf returns a leaf page (not the first) of cluster's drains bucket,
// and the file's page size.
func (s stateSetup) leafOf(t *testing.T, cluster string) (page uint64, pageSize int) {
	t.Helper()
	db, err := bolt.Open(s.db, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() //nolint:errcheck // test cleanup
	var root uint64
	err = db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket([]byte("overrides")).Bucket([]byte(cluster)).Root())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pageSize = db.Info().PageSize
	data := readFile(t, s.db)
	// The root is a branch page (16-byte header, then 16-byte elements
	// whose last 8 bytes are the child's page).
	const header, element = 16, 16
	off := int(root) * pageSize
	if flags := binary.NativeEndian.Uint16(data[off+8:]); flags != 0x01 {
		t.Fatalf("root page %d of %s is not a branch page (flags %#x): too few drains", root, cluster, flags)
	}
	return binary.NativeEndian.Uint64(data[off+header+element+8:]), pageSize
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// damage rewrites the state file as one of the three cases.
func (s stateSetup) damage(t *testing.T, how string) []byte {
	t.Helper()
	data := readFile(t, s.db)
	switch how {
	case "cut to half":
		data = data[:len(data)/2]
	case "zero length":
		data = nil
	case "random bytes in a page":
		page, ps := s.leafOf(t, "web")
		r := rand.New(rand.NewPCG(1, 2))
		for i := range ps {
			data[int(page)*ps+i] = byte(r.Uint32())
		}
	default:
		t.Fatalf("no damage %q", how)
	}
	if err := os.WriteFile(s.db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestDamagedStateFileStopsStartWithAdvice: each of the damaged
// files (which used to crash vigil with SIGBUS, panic on an assertion, or
// silently start without the drains) makes the real binary exit 1 with an
// error naming the file and what to do, and leaves the file untouched.
func TestDamagedStateFileStopsStartWithAdvice(t *testing.T) {
	for _, how := range []string{"cut to half", "random bytes in a page", "zero length"} {
		t.Run(how, func(t *testing.T) {
			s := newStateSetup(t, "1s")
			bad := s.damage(t, how)
			p := startProcess(t, "serve", "-config", s.config)
			if code := p.wait(30 * time.Second); code != 1 {
				t.Fatalf("exit code %d, want 1", code)
			}
			out := p.stderr.String()
			for _, want := range []string{s.db, "is damaged", "mv " + s.db, "-state-recover"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			for _, crash := range []string{"panic", "fatal error", "SIGBUS", "goroutine ", "another vigil"} {
				if strings.Contains(out, crash) {
					t.Errorf("output has %q:\n%s", crash, out)
				}
			}
			if got := readFile(t, s.db); string(got) != string(bad) {
				t.Errorf("the damaged file was changed: %d bytes, was %d", len(got), len(bad))
			}
		})
	}
}

// TestStateRecoverKeepsReadableDrains: -state-recover starts vigil on a
// file with a garbled page: every drain that could be read is restored
// (all of "api", most of "web"), the log says what was kept, the damaged
// file is kept beside the fresh one, and the next start needs no flag.
func TestStateRecoverKeepsReadableDrains(t *testing.T) {
	s := newStateSetup(t, "0s")
	bad := s.damage(t, "random bytes in a page")
	p := startProcess(t, "serve", "-config", s.config, "-state-recover")
	p.waitOutput("vigil serving", 30*time.Second)
	p.waitOutput("kept_entries=", time.Second)
	api, web := s.drainedIn(t, "api"), s.drainedIn(t, "web")
	if api != drainedPerCluster || web == 0 || web == drainedPerCluster {
		t.Errorf("drained after recovery: api %d, web %d; want all %d of api and some of web", api, web, drainedPerCluster)
	}
	t.Logf("recovered drains: api %d/%d, web %d/%d", api, drainedPerCluster, web, drainedPerCluster)
	copies, _ := filepath.Glob(s.db + ".damaged-*")
	if len(copies) != 1 || string(readFile(t, copies[0])) != string(bad) {
		t.Fatalf("damaged copies %v: want one holding the damaged bytes", copies)
	}
	if !strings.Contains(p.stderr.String(), copies[0]) {
		t.Errorf("the log does not name the damaged copy %s", copies[0])
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}

	again := startProcess(t, "serve", "-config", s.config)
	again.waitOutput("vigil serving", 30*time.Second)
	if n := s.drainedIn(t, "web"); n != web {
		t.Errorf("after a plain restart: web %d drained, want %d", n, web)
	}
}

// TestRestartWaitsForTheDrainingVigil: a vigil started while the previous
// one is still in its drain_period waits for the state file, says so
// (naming the holder), and starts once the old one has stopped, with the
// drains.
func TestRestartWaitsForTheDrainingVigil(t *testing.T) {
	s := newStateSetup(t, "2s")
	old := startProcess(t, "serve", "-config", s.config)
	old.waitOutput("vigil serving", 30*time.Second)
	old.signal(syscall.SIGTERM)
	old.waitOutput("stop signal: draining", 5*time.Second)

	next := startProcess(t, "serve", "-config", s.config)
	next.waitOutput("waiting for it to let go", 10*time.Second)
	if !strings.Contains(next.stderr.String(), "holder_pid="+strconv.Itoa(old.cmd.Process.Pid)) {
		t.Errorf("the wait does not name the old vigil (pid %d):\n%s", old.cmd.Process.Pid, next.stderr.String())
	}
	if code := old.wait(15 * time.Second); code != 0 {
		t.Fatalf("old vigil exit code %d", code)
	}
	next.waitOutput("vigil serving", 15*time.Second)
	if n := s.drainedIn(t, "api"); n != drainedPerCluster {
		t.Errorf("%d of %d drains after the restart", n, drainedPerCluster)
	}
}

// TestStateLockTimeoutNamesAnotherVigil: when the state file stays locked
// past drain_period plus the slack, vigil exits with the hint that another
// vigil uses the state_dir, naming the holder.
func TestStateLockTimeoutNamesAnotherVigil(t *testing.T) {
	s := newStateSetup(t, "0s")
	holder, err := statedb.Open(s.db, statedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close() //nolint:errcheck // test cleanup
	p := startProcess(t, "serve", "-config", s.config)
	p.waitOutput("waiting for it to let go", 10*time.Second)
	start := time.Now()
	if code := p.wait(stateLockSlack + 15*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	out := p.stderr.String()
	for _, want := range []string{s.db, "is another vigil using this state_dir", fmt.Sprintf("pid %d", os.Getpid())} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("gave up %s after saying it waits", time.Since(start).Round(time.Millisecond))
}
