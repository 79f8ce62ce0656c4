package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium binary: PVAULT_CHROMIUM, else the usual
// Debian paths. The browser test is skipped without one (.ci/run installs
// Debian's chromium, so CI always runs it).
func chromiumPath() string {
	if p := os.Getenv("PVAULT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where the browser test saves its screenshots
// (PVAULT_ARTIFACTS, default artifacts/browser at the repository root).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("PVAULT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts", "browser")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

var receiptRE = regexp.MustCompile(`^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$`)

// TestBrowserPortal drives the petitioner portal in headless Chromium:
// submit through the form, read the receipt code from the page, track the
// case, see the reply an officer posts through the API, and give feedback.
func TestBrowserPortal(t *testing.T) {
	bin := chromiumPath()
	if bin == "" {
		if os.Getenv("PVAULT_REQUIRE_BROWSER") != "" {
			t.Fatal("PVAULT_REQUIRE_BROWSER is set but no Chromium was found")
		}
		t.Skip("no Chromium installed (set PVAULT_CHROMIUM)")
	}
	h := newHarness(t)
	h.must(http.StatusOK, "PUT", "/api/v1/units/group/east", h.admin, map[string]any{"name": "东区分公司", "public": true})
	_, sup := h.user("sup1", "group/east", "supervisor")
	_, off := h.user("off1", "group/east", "officer")
	ts := httptest.NewServer(h.srv)
	defer ts.Close()
	shots := artifactDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(412, 915), // a phone
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}

	// Submit through the form.
	var code string
	err := chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(`a[href="/submit"]`),
		shot("1-index"),
		chromedp.Click(`a[href="/submit"]`),
		chromedp.WaitVisible(`#title`),
		chromedp.SetValue(`#unit`, "group/east"),
		chromedp.SendKeys(`#title`, "三号工地拖欠农民工工资"),
		chromedp.SendKeys(`#content`, "我们十二个人在三号工地干了三个月，工资一直没有发。"),
		chromedp.SendKeys(`#name`, "张三"),
		chromedp.SendKeys(`#phone`, "13812345678"),
		shot("2-submit-form"),
		chromedp.Submit(`#title`),
		chromedp.WaitVisible(`#receipt-code`),
		chromedp.Text(`#receipt-code`, &code),
		shot("3-receipt"),
	)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	code = strings.TrimSpace(code)
	if !receiptRE.MatchString(code) {
		t.Fatalf("receipt code on the page = %q", code)
	}

	// Track it: registered.
	var status string
	track := chromedp.Tasks{
		chromedp.Navigate(ts.URL + "/track"),
		chromedp.WaitVisible(`#receipt_code`),
		chromedp.SendKeys(`#receipt_code`, strings.ToLower(code)),
		chromedp.Submit(`#receipt_code`),
		chromedp.WaitVisible(`#status`),
		chromedp.Text(`#status`, &status),
	}
	if err := chromedp.Run(ctx, track, shot("4-track-registered")); err != nil {
		t.Fatalf("track: %v", err)
	}
	if !strings.Contains(status, "已登记") {
		t.Fatalf("status = %q", status)
	}

	// Staff accept, assign and reply through the API.
	list := h.must(http.StatusOK, "GET", "/api/v1/petitions", sup, nil).JSON(t)["items"].([]any)
	if len(list) != 1 {
		t.Fatalf("supervisor sees %d petitions", len(list))
	}
	id := list[0].(map[string]any)["id"].(string)
	for _, step := range []struct {
		tok  string
		body map[string]any
	}{
		{sup, map[string]any{"action": "accept"}},
		{sup, map[string]any{"action": "assign", "assignee": "off1"}},
		{off, map[string]any{"action": "reply", "text": "经核实，项目部已于本周补发全部工资。"}},
	} {
		h.must(http.StatusOK, "POST", "/api/v1/petitions/"+id+"/actions", step.tok, step.body)
	}

	// Track again: the reply shows, with the feedback form.
	var reply string
	if err := chromedp.Run(ctx, track, chromedp.Text(`.reply .text`, &reply), shot("5-track-replied")); err != nil {
		t.Fatalf("track after reply: %v", err)
	}
	if !strings.Contains(status, "已答复") || !strings.Contains(reply, "补发全部工资") {
		t.Fatalf("after reply: status %q, reply %q", status, reply)
	}

	// Give feedback.
	var msg string
	err = chromedp.Run(ctx,
		chromedp.Click(`input[name="rating"][value="satisfied"]`),
		chromedp.SendKeys(`#comment`, "谢谢"),
		chromedp.Submit(`#comment`),
		chromedp.WaitVisible(`.message`),
		chromedp.Text(`.message`, &msg),
		shot("6-feedback"),
	)
	if err != nil {
		t.Fatalf("feedback: %v", err)
	}
	if !strings.Contains(msg, "评价已记录") {
		t.Fatalf("feedback message = %q", msg)
	}
	if err := chromedp.Run(ctx, track, shot("7-track-closed")); err != nil {
		t.Fatalf("track after feedback: %v", err)
	}
	if !strings.Contains(status, "已办结") {
		t.Fatalf("status after feedback = %q", status)
	}

	// The code never travelled in a URL, and every portal request was audited.
	ev := h.must(http.StatusOK, "GET", "/api/v1/petitions/"+id+"/events", sup, nil).JSON(t)["items"].([]any)
	last := ev[len(ev)-1].(map[string]any)
	if last["type"] != "feedback" || last["rating"] != "satisfied" {
		t.Fatalf("last event = %v", last)
	}
}
