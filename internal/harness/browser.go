package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BrowserOptions configure a Browser. The zero value is a 1280×900 window.
type BrowserOptions struct {
	// Width and Height are the window's size, which is the screenshots'
	// width. Default 1280 and 900.
	Width, Height int
}

// Browser is a headless Chromium of its own (cookies included), for the
// tests of vpnbill's web pages. Ctx runs chromedp actions in it; every
// action of the test must be done within 2 minutes of NewBrowser.
//
// Screenshots go into the directory VPNBILL_SCREENSHOTS names, if set: the
// README's screenshots are made so (Shot), and so are those of a failed
// step (Do; without VPNBILL_SCREENSHOTS, beside the test's temporary files).
type Browser struct {
	t   testing.TB
	Ctx context.Context
}

// NewBrowser starts headless Chromium (chromium, chromium-browser,
// google-chrome or headless-shell on PATH) with o, or fails the test
// without one: a page untested in a browser is not tested (CI installs
// Debian's chromium). It is stopped at the end of the test.
func NewBrowser(t testing.TB, o BrowserOptions) *Browser {
	t.Helper()
	if o.Width == 0 {
		o.Width = 1280
	}
	if o.Height == 0 {
		o.Height = 900
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("headless", "new"), chromedp.WindowSize(o.Width, o.Height))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return &Browser{t: t, Ctx: ctx}
}

// chromium finds the browser, or fails the test.
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("harness: no chromium on PATH: vpnbill's web pages are tested in a real browser (apt-get install chromium; .ci/run installs it)")
	return ""
}

// Do runs steps; on failure it saves a screenshot, failed-<test>-<what>.png
// (into VPNBILL_SCREENSHOTS if set, else beside the test's temporary
// files), and fails the test.
func (br *Browser) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	br.t.Helper()
	if err := chromedp.Do(br.Ctx, steps...); err != nil {
		png, serr := chromedp.Run(br.Ctx, chromedp.FullScreenshot(100))
		if serr == nil {
			dir := os.Getenv("VPNBILL_SCREENSHOTS")
			if dir == "" {
				dir = br.t.TempDir()
			}
			path := filepath.Join(dir, "failed-"+nonWord.ReplaceAllString(br.t.Name()+"-"+what, "-")+".png")
			if werr := os.WriteFile(path, png, 0o644); werr == nil {
				br.t.Logf("screenshot of the failure: %s", path)
			}
		}
		br.t.Fatalf("%s: %v", what, err)
	}
}

var nonWord = regexp.MustCompile(`\W+`)

// Text is the visible text of the first element sel selects, trimmed; it
// fails the test if it cannot be read.
func (br *Browser) Text(sel string) string {
	br.t.Helper()
	s, err := chromedp.Run(br.Ctx, chromedp.Text(sel))
	if err != nil {
		br.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// HTML is the page's HTML as the browser holds it now.
func (br *Browser) HTML() string {
	br.t.Helper()
	s, err := chromedp.Run(br.Ctx, chromedp.OuterHTML("html"))
	if err != nil {
		br.t.Fatal(err)
	}
	return s
}

// Shot writes the page as name.png into VPNBILL_SCREENSHOTS, if set (and
// does nothing if not).
func (br *Browser) Shot(name string) {
	br.t.Helper()
	dir := os.Getenv("VPNBILL_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(br.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		br.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		br.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		br.t.Fatal(err)
	}
}
