package api

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/vigilhq/vigil/membership"
)

// findChromium returns a Chromium binary or "" when the machine has none.
func findChromium() string {
	if p := os.Getenv("VIGIL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// TestDashboardInChromium loads the dashboard in a real headless Chromium:
// the clusters show, an instance changes color when it drains (driven
// through the store and through the page's own drain button), and the
// instance view shows the probe history.
func TestDashboardInChromium(t *testing.T) {
	bin := findChromium()
	if bin == "" {
		t.Skip("no chromium binary found (looked for chromium, chromium-browser, google-chrome, headless-shell; set VIGIL_CHROMIUM to point at one): skipping the browser test")
	}
	fx := newFixture(t, nil)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelBrowser()

	// Start the browser, then answer the token prompt of the drain button
	// from another goroutine (the page and its Click wait for the dialog).
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true, PromptText: "s3cret"})
		}
	}()

	const web1 = `section.cluster[data-cluster="web"] .inst[data-instance="web-1"]`
	const web2 = `section.cluster[data-cluster="web"] .inst[data-instance="web-2"]`
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	color := func(sel string) string {
		t.Helper()
		c, err := chromedp.Run(bctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('`+sel+`')).backgroundColor`))
		if err != nil {
			t.Fatalf("color of %s: %v", sel, err)
		}
		return c
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	err := chromedp.Do(bctx,
		chromedp.Navigate(fx.http.URL+"/"),
		chromedp.WaitVisible(css(web1+`[data-status="HEALTHY"]`)),
		chromedp.WaitVisible(css(`section.cluster[data-cluster="db"] .inst[data-instance="db-1"][data-status="DEGRADED"]`)),
		chromedp.WaitVisible(css(`#conn[data-state="live"]`)), // subscribed to the stream
	)
	if err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}
	if s := text(`#clusters`); !strings.Contains(s, "web") || !strings.Contains(s, "db") {
		t.Errorf("clusters not shown: %q", s)
	}
	if s := text(`section.cluster[data-cluster="web"] .count[data-status="HEALTHY"]`); s != "HEALTHY 2" {
		t.Errorf("web healthy count = %q, want \"HEALTHY 2\"", s)
	}
	healthyColor := color(web1)
	if healthyColor != "rgb(46, 157, 79)" {
		t.Errorf("healthy instance color = %q, want green rgb(46, 157, 79)", healthyColor)
	}

	// web-1 drains (the aggregator's way: a transition in the store); the
	// page follows over the event stream without a reload.
	setStatus(fx.store, "web", "web-1", membership.StatusDraining, "readiness: draining (healthz)")
	if err := chromedp.Do(bctx, chromedp.WaitVisible(css(web1+`[data-status="DRAINING"]`))); err != nil {
		t.Fatalf("waiting for web-1 to show DRAINING: %v", err)
	}
	if c := color(web1); c == healthyColor || c != "rgb(123, 82, 214)" {
		t.Errorf("draining instance color = %q, want purple rgb(123, 82, 214)", c)
	}
	if s := text(`section.cluster[data-cluster="web"] .count[data-status="DRAINING"]`); s != "DRAINING 1" {
		t.Errorf("web draining count = %q", s)
	}

	// The instance view shows probe history: a sparkline and 20 results.
	err = chromedp.Do(bctx,
		chromedp.Click(css(web1)),
		chromedp.WaitVisible(css(`#detail [data-probe="readiness"] svg.sparkline polyline`)),
	)
	if err != nil {
		t.Fatalf("opening the instance view: %v", err)
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#detail [data-probe="readiness"] table.history tbody tr').length`))
	if err != nil || rows != 20 {
		t.Errorf("readiness history rows = %d (%v), want 20", rows, err)
	}
	detail := text(`#detail`)
	for _, want := range []string{"queue=unavailable", "503", "readiness: draining (healthz)"} {
		if !strings.Contains(detail, want) {
			t.Errorf("instance view lacks %q:\n%s", want, detail)
		}
	}

	// Drain web-2 with the page's button: it asks for the token, posts,
	// and the chip turns purple.
	err = chromedp.Do(bctx,
		chromedp.Click(css(web2)),
		chromedp.WaitVisible(css(`#detail h2 .badge[data-status="HEALTHY"]`)),
		chromedp.SendKeys(css(`#detail input[aria-label="drain reason"]`), "browser test"),
		chromedp.Click(css(`#drain-btn`)),
		chromedp.WaitVisible(css(web2+`[data-status="DRAINING"]`)),
		chromedp.WaitVisible(css(`#detail .override`)),
	)
	if err != nil {
		t.Fatalf("draining web-2 from the page: %v", err)
	}
	if m := member(t, fx.store, "web", "web-2"); m.Override == nil || m.Override.Reason != "browser test" || m.Override.By != "admin" {
		t.Errorf("web-2 after the page's drain = %+v", m)
	}

	// Back to web-1 for the screenshot: it has probe history to show.
	err = chromedp.Do(bctx,
		chromedp.Click(css(web1)),
		chromedp.WaitVisible(css(`#detail [data-probe="readiness"] svg.sparkline polyline`)),
	)
	if err != nil {
		t.Fatalf("reopening web-1: %v", err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := os.Getenv("VIGIL_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "dashboard.png")
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
}
