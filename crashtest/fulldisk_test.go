package crashtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// fillDisk writes file until the file system is full, then gives back keep
// bytes. It returns the size of the file.
func fillDisk(t *testing.T, file string, keep int64) int64 {
	t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i*7 + 1) // not zeros: nothing may store it sparsely
	}
	var size int64
	for {
		n, err := f.Write(buf)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatalf("fill %s: %v", file, err)
		}
	}
	size = max(size-keep, 0)
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return size
}

// fdLeaks are strings a 5xx answer on a full disk must not carry.
var fdLeaks = regexp.MustCompile(`(?i)no space|ENOSPC|badger|memtable|vlog|/tmp/|\.sst|拖欠工资|三号工地|张三|510104`)

// TestFullDisk runs the server on a small tmpfs, fills it, and creates
// petitions until requests fail: a failure is a clean 503 (or 507, or a 500
// that leaks nothing), never a 2xx for something not stored. When the space
// comes back, the vault recovers.
func TestFullDisk(t *testing.T) {
	skipUnlessLinux(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	tmp := t.TempDir()
	mnt := filepath.Join(tmp, "disk")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): %s", err, strings.TrimSpace(string(out)))
	}
	// Registered before any server: cleanups run last-in first-out, so
	// the servers are killed before the unmount.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; detaching it", mnt, err, out)
			_ = exec.Command("umount", "-l", mnt).Run()
		}
	})
	dir, logFile := filepath.Join(mnt, "vault"), filepath.Join(tmp, "serve.log")
	initVault(t, dir)
	s := serve(t, dir, logFile)
	c := newClient(s.base)
	u := setupUsers(t, c)

	type sent struct{ title, content string }
	created := map[string]sent{}    // by id: acknowledged creates
	var refused []string            // titles of creates answered 5xx
	unanswered := map[string]sent{} // by title: creates the server died on
	create := func(i int) (*reply, sent) {
		p := sent{title: fmt.Sprintf("拖欠工资 fd-%04d", i),
			content: strings.Repeat("我们在三号工地干活，项目部已经拖欠我们三个月工资。", 8+i%24) + fmt.Sprintf("（fd-%04d）", i)}
		r := c.call("POST", "/api/v1/petitions", u.sup, fmt.Sprintf("fd-%04d", i), map[string]any{
			"unit": "group/east", "channel": "letter", "title": p.title, "content": p.content,
			"petitioner": map[string]any{"name": "张三", "id_number": "510104199001011234"}})
		if r.err != nil {
			unanswered[p.title] = p
		}
		if r.acked() {
			var got petitionJSON
			if err := json.Unmarshal(r.body, &got); err != nil || got.ID == "" {
				t.Fatalf("create %d: %v", i, r)
			}
			created[got.ID] = p
		}
		return r, p
	}
	for i := range 5 {
		if r, _ := create(i); r.code != http.StatusCreated {
			t.Fatalf("create %d before filling the disk: %v", i, r)
		}
	}

	filler := filepath.Join(mnt, "filler")
	// Leave less than the store's free-space guard (twice its 32 MiB
	// memtable): writes must be refused with 503 before badger writes into
	// a memory map the disk cannot back.
	size := fillDisk(t, filler, 40<<20)
	t.Logf("filler of %d KiB leaves 40 MiB", size>>10)

	var ok, failed int
	died := false
	i := 5
	for consecutive := 0; i < 3000 && consecutive < 8; i++ {
		r, p := create(i)
		switch {
		case r.err != nil:
			died = true
		case r.acked():
			ok++
			consecutive = 0
			continue
		case r.code == http.StatusServiceUnavailable || r.code == http.StatusInsufficientStorage || r.code == http.StatusInternalServerError:
			failed++
			consecutive++
			refused = append(refused, p.title)
			if !isProblem(r) {
				t.Errorf("create %d on a full disk: %d is not a problem document: %s", i, r.code, r.body)
			}
			if m := fdLeaks.Find(r.body); m != nil {
				t.Errorf("create %d on a full disk: the %d answer leaks %q: %s", i, r.code, m, r.body)
			}
			continue
		default:
			t.Errorf("create %d on a full disk: %v", i, r)
			failed++
			consecutive++
			continue
		}
		break
	}
	t.Logf("on the full disk: %d creates acknowledged, %d refused", ok, failed)
	if died {
		s.kill()
		tail := s.logTail(200000)
		first := tail
		if k := strings.Index(tail, "fatal error"); k >= 0 {
			first = tail[k:]
		} else if k := strings.Index(tail, "panic"); k >= 0 {
			first = tail[k:]
		}
		if len(first) > 1500 {
			first = first[:1500]
		}
		t.Errorf("the server died on the full disk after %d acknowledged creates instead of answering 503 (%v):\n%s", ok, s.state, first)
	} else if failed == 0 {
		t.Errorf("the disk never filled: %d creates acknowledged", ok)
	} else {
		// Reads on a full disk: served (200) or refused cleanly; each
		// read needs an audit entry, which needs space.
		for id := range created {
			r := c.call("GET", "/api/v1/petitions/"+id, u.sup, "", nil)
			if r.err != nil || r.code != http.StatusOK && r.code != http.StatusServiceUnavailable {
				t.Errorf("read on the full disk: %v", r)
			} else if r.code != http.StatusOK && fdLeaks.Match(r.body) {
				t.Errorf("read on the full disk leaks: %s", r.body)
			}
			break
		}
	}
	c.close()

	// Free the space: the vault recovers (restarted if it died).
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if !s.alive() {
		s = serve(t, dir, logFile)
	}
	c = newClient(s.base)
	defer c.close()
	recovered := false
	for attempt := range 3 {
		r, _ := create(10000 + attempt)
		if r.code == http.StatusCreated {
			recovered = true
			break
		}
		t.Errorf("create after freeing the disk (attempt %d): %v", attempt+1, r)
	}
	if !recovered {
		t.Fatalf("the vault did not recover when the space came back\n%s", s.logTail(3000))
	}
	if r := c.call("GET", "/readyz", "", "", nil); r.code != http.StatusOK {
		t.Errorf("readyz after the disk was freed: %v", r)
	}

	// Everything acknowledged is there; nothing refused is.
	check := func(label string) {
		t.Helper()
		listed, err := listAll(t, c, u.sup)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		inList := map[string]bool{}
		for _, it := range listed {
			inList[it.ID] = true
			if _, ok := created[it.ID]; !ok {
				// The create the server died on may have been stored,
				// whole; a refused one may not.
				p, ok := unanswered[it.Title]
				if !ok {
					t.Errorf("%s: petition %s (%q) is stored but its create was refused", label, it.ID, it.Title)
					continue
				}
				created[it.ID] = p
			}
		}
		for id, p := range created {
			if !inList[id] {
				t.Errorf("%s: acknowledged petition %s (%q) is not listed", label, id, p.title)
			}
			r := c.call("GET", "/api/v1/petitions/"+id, u.sup, "", nil)
			var got petitionJSON
			if r.code != http.StatusOK || json.Unmarshal(r.body, &got) != nil || got.Title != p.title || got.Content != p.content {
				t.Errorf("%s: acknowledged petition %s (%q): %v", label, id, p.title, r)
			}
		}
		verifyOnline(t, c, u.aud)
		exportLog(t, c, u.aud)
	}
	check("after freeing the disk")
	// The acknowledged creates survive a crash too.
	s.kill()
	s = serve(t, dir, logFile)
	c.close()
	c = newClient(s.base)
	check("after a restart")
	s.stop()
	checkOffline(t, dir)
	t.Logf("refused creates: %d; acknowledged in all: %d", len(refused), len(created))
}
