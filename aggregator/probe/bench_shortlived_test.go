//go:build linux

package probe

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/fdbudget"
	"github.com/vigilhq/vigil/upstreams"
)

// BenchmarkHTTPCheckPairShortLived is an instance's two probes on a
// short-lived connection, as vigil probes the instance addresses beyond
// its fd budget's kept share: dial, both requests in one write, both
// answers, close (with a reset). One op is one pair (two probes).
// time-wait is how many TIME_WAIT sockets to the server were left at the
// end: the reset leaves none.
func BenchmarkHTTPCheckPairShortLived(b *testing.B) {
	addr := benchServer(b, "raw")
	budget := fdbudget.New(fdbudget.Plan{Limit: 1000, Reserve: 990, Kept: 0, ShortLived: 10})
	c := mustChecker(b, upstreams.KindHTTP, "http", addr, CheckerOptions{Budget: budget})
	pc := c.(PairChecker)
	live := mustRequest(b, httpProbe("/live"), addr, RequestOptions{})
	ready := mustRequest(b, httpProbe("/ready"), addr, RequestOptions{})
	var s1, s2 Scratch
	var r1, r2 Response
	b.ReportAllocs()
	var m cpuMeter
	m.begin(b)
	for i := 0; i < b.N; i++ {
		r1, r2 = Response{}, Response{}
		pc.CheckPair(live, ready, time.Now().Add(time.Second), &s1, &s2, &r1, &r2)
		if r1.Err != nil || r2.Err != nil || r1.StatusCode != 200 || r2.StatusCode != 200 {
			b.Fatalf("pair: %d %v, %d %v", r1.StatusCode, r1.Err, r2.StatusCode, r2.Err)
		}
	}
	m.end(b)
	if st := stats(b, c); st.ShortLived != uint64(b.N)+0 && b.N > 0 {
		b.Errorf("stats %+v: want one short-lived connection per pair", st)
	}
	b.ReportMetric(float64(timeWaitTo(b, addr)), "time-wait")
}

// timeWaitTo counts the sockets in TIME_WAIT whose remote end is addr
// (from /proc/net/tcp).
func timeWaitTo(tb testing.TB, addr string) int {
	tb.Helper()
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close() //nolint:errcheck // read-only: nothing to lose
	want := fmt.Sprintf(":%04X", port)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && strings.HasSuffix(fields[2], want) && fields[3] == "06" { // rem_address, st
			n++
		}
	}
	return n
}
