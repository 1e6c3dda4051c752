package server

import (
	"archive/zip"
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"avatargan/internal/testutil"
)

// chromiumPath finds Debian's headless Chromium: $AVATARGAN_CHROMIUM, else chromium on
// PATH (the lookup .ci/run makes before it installs the chromium package).
func chromiumPath() string {
	if p := os.Getenv("AVATARGAN_CHROMIUM"); p != "" {
		return p
	}
	p, _ := exec.LookPath("chromium")
	return p
}

// gridJS returns the grid's image URLs once all n avatars have decoded, else null
// (so Poll keeps waiting).
const gridJS = `(() => {
	const imgs = [...document.querySelectorAll('#grid img.avatar')];
	if (imgs.length !== 24 || !imgs.every(i => i.complete && i.naturalWidth > 0)) return null;
	return imgs.map(i => i.getAttribute('src'));
})()`

// TestBrowser drives the page in headless Chromium: grid loads and decodes, "new
// batch" replaces it, both download links serve 256 px PNGs, the first pick shows
// no broken image, two picks show the interpolation GIF, the batch zip holds the
// grid, a full-page screenshot is taken, and the creativity slider keeps to 0.8..1.2
// (a shared ?t= outside it falls back to 1) and re-renders the grid when moved.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := chromiumPath()
	if bin == "" {
		// Under CI=true a missing browser fails the test: CI must not pass without it.
		testutil.SkipOrFail(t, "no Chromium: install Debian's chromium package or set AVATARGAN_CHROMIUM")
	}
	s := newTestServer(t, newFake(), Options{})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Our own option list, not chromedp.DefaultExecAllocatorOptions, which adds
	// flags of its own; these are exactly the flags CI expects.
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	step("load page", chromedp.Do(bctx,
		chromedp.EmulateViewport(1100, 800),
		chromedp.Navigate(srv.URL+"/?seed=100"),
	))
	first, err := chromedp.Run(bctx, chromedp.Poll[[]string](gridJS))
	step("grid decoded", err)
	for i, src := range first {
		if !strings.HasPrefix(src, "/avatar/"+itoa(uint64(100+i))+".png") {
			t.Fatalf("cell %d src %q, want seed %d (from ?seed=100)", i, src, 100+i)
		}
	}
	caption, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#grid .cell .seed")))
	step("caption", err)
	if caption != "100" {
		t.Errorf("first caption %q, want 100", caption)
	}

	step("new batch", chromedp.Do(bctx, chromedp.Click(chromedp.ID("new-batch"))))
	second, err := chromedp.Run(bctx, chromedp.Poll[[]string](
		`(() => { const s = `+gridJS+`; return s && s[0] !== `+jsString(first[0])+` ? s : null })()`))
	step("new grid decoded", err)
	if slices.ContainsFunc(second, func(s string) bool { return slices.Contains(first, s) }) {
		t.Errorf("new batch kept some avatars: %v -> %v", first, second)
	}
	loc, err := chromedp.Run(bctx, chromedp.Location())
	step("location", err)
	u, _ := url.Parse(loc)
	if got := u.Query().Get("seed"); got == "" || got == "100" || !strings.Contains(second[0], "/avatar/"+got+".png") {
		t.Errorf("URL %q does not carry the new batch's seed (first src %q)", loc, second[0])
	}

	// Open the first avatar large; its download link must serve a PNG.
	step("open viewer", chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#grid img.avatar")),
		chromedp.WaitVisible(chromedp.ID("download")),
	))
	href, err := chromedp.Run(bctx, chromedp.Evaluate[string](
		`(() => { const a = document.getElementById('download'); return a.hasAttribute('download') ? a.href : '' })()`))
	step("download href", err)
	if !strings.Contains(href, "size=256") {
		t.Errorf("download href %q lacks size=256", href)
	}
	resp, err := http.Get(href)
	step("fetch download", err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.HasPrefix(body, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("download is not a PNG (%s): %.40q", resp.Status, body)
	}
	if img := decodePNG(t, body); img.Bounds().Dx() != 256 {
		t.Errorf("download is %v, want 256 px", img.Bounds())
	}

	// The smooth download is a real enlargement, not the pixel blow-up.
	smooth, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('download-smooth').href`))
	step("smooth href", err)
	if !strings.Contains(smooth, "size=256") || !strings.Contains(smooth, "filter=smooth") {
		t.Errorf("smooth download href %q", smooth)
	}
	if img := decodePNG(t, fetch(t, smooth)); img.Bounds().Dx() != 256 {
		t.Errorf("smooth download is %v, want 256 px", img.Bounds())
	}

	// Pick it: the interpolation box opens, and no image on the page is broken
	// (an <img> without a source used to show a broken-image icon here).
	step("pick one", chromedp.Do(bctx,
		chromedp.Click(chromedp.ID("pick")),
		chromedp.WaitNotVisible(chromedp.ID("viewer")),
		chromedp.WaitVisible(chromedp.ID("interp")),
	))
	broken, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](brokenJS))
	step("broken images", err)
	if len(broken) > 0 {
		t.Errorf("broken images shown after the first pick: %q", broken)
	}
	// Pick a second avatar: the interpolation GIF appears.
	step("pick second", chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#grid .cell:nth-child(7) img.avatar")),
		chromedp.WaitVisible(chromedp.ID("pick")),
		chromedp.Click(chromedp.ID("pick")),
		chromedp.WaitNotVisible(chromedp.ID("viewer")),
	))
	gifSrc, err := chromedp.Run(bctx, chromedp.Poll[string](
		`(() => { const i = document.getElementById('interp-img'); return i.complete && i.naturalWidth > 0 && i.getAttribute('src') })()`))
	step("interpolation decoded", err)
	if !strings.HasPrefix(gifSrc, "/interpolate.gif?from=") {
		t.Errorf("interpolation src %q", gifSrc)
	}

	// The batch zip holds the 24 avatars shown.
	zipHref, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('zip').href`))
	step("zip href", err)
	zb := fetch(t, zipHref)
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	step("read zip", err)
	if len(zr.File) != 24 || !strings.HasPrefix(zr.File[0].Name, "avatar-") {
		t.Errorf("zip has %d files (first %q), want the 24 shown", len(zr.File), zr.File[0].Name)
	}

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	step("screenshot", err)
	path := filepath.Join(t.TempDir(), "page.png")
	step("save screenshot", os.WriteFile(path, shot, 0o644))
	img, err := png.Decode(bytes.NewReader(shot))
	step("decode screenshot", err)
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 400 {
		t.Errorf("screenshot is only %v", b)
	}
	// Keep a copy for a human to look at when asked to.
	if dir := os.Getenv("AVATARGAN_SCREENSHOT_DIR"); dir != "" {
		step("copy screenshot", os.WriteFile(filepath.Join(dir, "page.png"), shot, 0o644))
	}
	t.Logf("screenshot %v, %d bytes", img.Bounds(), len(shot))

	// The creativity slider spans 0.8..1.2: a shared ?t= inside it sets the slider and
	// every avatar's t; one outside it (0.5 or 1.3, which the API takes but which fade
	// the avatars or add artefacts) falls back to 1, shown without a t; moving the slider re-renders with it.
	for _, c := range []struct{ q, label, src string }{
		{"1.05", "1.05", "&t=1.05"},
		{"0.5", "1.00", ""},
		{"1.3", "1.00", ""},
	} {
		step("load ?t="+c.q, chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/?seed=7&t="+c.q)))
		srcs, err := chromedp.Run(bctx, chromedp.Poll[[]string](gridJS))
		step("grid at ?t="+c.q, err)
		label, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("creativity-value")))
		step("slider label", err)
		if label != c.label {
			t.Errorf("?t=%s: slider shows %q, want %q", c.q, label, c.label)
		}
		for _, src := range srcs {
			if hasT := strings.Contains(src, "&t="); hasT != (c.src != "") || !strings.Contains(src, c.src) {
				t.Fatalf("?t=%s: avatar src %q, want t part %q", c.q, src, c.src)
			}
		}
	}
	_, err = chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => {
		const s = document.getElementById('creativity');
		s.value = '0.85';
		return s.dispatchEvent(new Event('change'));
	})()`))
	step("move slider", err)
	moved, err := chromedp.Run(bctx, chromedp.Poll[[]string](
		`(() => { const s = `+gridJS+`; return s && s[0].includes('&t=0.85') ? s : null })()`))
	step("grid after the slider moved", err)
	if !strings.HasPrefix(moved[0], "/avatar/7.png") {
		t.Errorf("after the slider moved: first src %q, want seed 7", moved[0])
	}
}

func jsString(s string) string { return jsonString(s) }

// brokenJS lists the rendered images that have not decoded (no source, or an error).
const brokenJS = `[...document.querySelectorAll('img')]
	.filter(i => i.getClientRects().length > 0 && !(i.complete && i.naturalWidth > 0))
	.map(i => i.id || i.getAttribute('src') || '(no src)')`

// fetch GETs url and returns the body of a 200.
func fetch(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return b
}
