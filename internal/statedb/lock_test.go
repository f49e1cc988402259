package statedb

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// envHold makes the test binary a process that holds a state file open
// until its stdin closes (TestHelperHoldFile).
const envHold = "STATEDB_TEST_HOLD"

// TestHelperHoldFile is not a test: run by holdInOtherProcess, it opens the
// file named in $STATEDB_TEST_HOLD, says "held" and waits.
func TestHelperHoldFile(t *testing.T) {
	path := os.Getenv(envHold)
	if path == "" {
		t.Skip("helper process only")
	}
	db, err := Open(path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stdout.WriteString("held\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	_, _ = os.Stdin.Read(buf) // until the parent closes it: the end, not the error, is the signal
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// holdInOtherProcess opens path in a child process; release lets it go.
func holdInOtherProcess(t *testing.T, path string) (pid int, release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldFile$")
	cmd.Env = append(os.Environ(), envHold+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = stdin.Close() // the child's cue to let go and exit
			_ = cmd.Wait()
		})
	}
	t.Cleanup(release)
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "held" {
		t.Fatalf("helper did not hold the file: %q", line)
	}
	return cmd.Process.Pid, release
}

// TestLockedFileWaitsThenFailsNamingTheHolder: while another process holds
// the file, Open waits the bounded time, says so, and fails with a
// LockedError naming the holder's pid.
func TestLockedFileWaitsThenFailsNamingTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	makeSample(t, path, 1, 1)
	pid, _ := holdInOtherProcess(t, path)

	var logs bytes.Buffer
	start := time.Now()
	db, err := Open(path, Options{LockWait: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	took := time.Since(start)
	if err == nil {
		_ = db.Close() // the test fails anyway
		t.Fatal("opened a file another process holds")
	}
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T), want a LockedError", err, err)
	}
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("gave up after %s, want the 300ms wait", took)
	}
	if runtime.GOOS == "linux" && le.HolderPID != pid {
		t.Errorf("holder pid %d, want %d (%v)", le.HolderPID, pid, err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if !strings.Contains(logs.String(), "waiting for it to let go") {
		t.Errorf("no log that it waits:\n%s", logs.String())
	}
}

// TestLockedFileIsOpenedOnceLetGo: a holder that lets go within the wait
// does not make Open fail.
func TestLockedFileIsOpenedOnceLetGo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	want := makeSample(t, path, 2, 2)
	_, release := holdInOtherProcess(t, path)
	time.AfterFunc(300*time.Millisecond, release)
	start := time.Now()
	db, err := Open(path, Options{LockWait: 10 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() //nolint:errcheck // test cleanup
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("opened after %s, while the other process held it", took)
	}
	if got := contents(t, db); count(got) != count(want) {
		t.Errorf("got %v", got)
	}
}

// TestSecondOpenInProcessIsLocked: two opens of one file in one process
// exclude each other too.
func TestSecondOpenInProcessIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() //nolint:errcheck // test cleanup
	db2, err := Open(path, Options{LockWait: 100 * time.Millisecond, Logger: quiet})
	var le *LockedError
	if !errors.As(err, &le) {
		if db2 != nil {
			_ = db2.Close() // the test fails anyway
		}
		t.Fatalf("second open: %v, want a LockedError", err)
	}
}
