// Package benchproc runs the other side of a benchmark (servers or a load
// client) in a child process, so that the benchmark's CPU figures count
// only the code under test, and reads this process's CPU time.
package benchproc

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Child is a re-executed test binary running one test as a helper.
type Child struct {
	Stdin io.WriteCloser // closing it tells the child to exit
	Out   *bufio.Scanner // the child's stdout, line by line
}

// Start re-executes the test binary running only testName, with env added
// to the environment. The child is stopped (stdin closed, waited for) when
// the benchmark or test ends.
func Start(tb testing.TB, testName string, env ...string) *Child {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close() // the child's cue to exit
		_ = cmd.Wait()    // reaps the child; how a benchmark's helper ended is of no interest
	})
	out := bufio.NewScanner(stdout)
	out.Buffer(make([]byte, 64<<10), 16<<20)
	return &Child{Stdin: stdin, Out: out}
}

// CPU is the user plus system CPU time this process has used.
func CPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // fails only for a bad "who"
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Await returns the rest of the child's first output line that starts
// with prefix, failing if the child ends first.
func (c *Child) Await(tb testing.TB, prefix string) string {
	tb.Helper()
	for c.Out.Scan() {
		if rest, ok := strings.CutPrefix(c.Out.Text(), prefix); ok {
			return rest
		}
	}
	tb.Fatalf("benchproc: child ended before printing %q: %v", prefix, c.Out.Err())
	return ""
}

// Discard drops the rest of the child's output, so it never blocks on a full pipe.
func (c *Child) Discard() {
	go func() {
		for c.Out.Scan() {
		}
	}()
}
