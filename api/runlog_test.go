package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// Secrets hygiene over the whole test run (issue 10, item 5): every
// harness logs JSON at debug level into runLog, and every request the
// harness sends is noted: the tokens it carries, and the secrets and
// personal data in its body and in the answer (passwords, tokens, receipt
// codes, TOTP secrets, ID numbers, phone numbers, names, petition text).
// When all tests have run, TestMain fails the run if the log holds any of
// them, or any Han character at all (no petition text, name or reason is
// ever logged, whatever the test).

var (
	runLog    = &hxLogBuffer{}
	runLogger = slog.New(slog.NewJSONHandler(runLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
)

// runSecrets collects what must never be logged.
var runSecrets = &secretSet{vals: map[string]string{}}

type secretSet struct {
	mu   sync.Mutex
	vals map[string]string // value → what it is
}

// secretFields are the JSON fields whose string values are secret or
// personal, in requests and answers. ("name" is left to the Han-character
// rule: the field also names parameters and roles in problem documents.)
var secretFields = map[string]bool{
	"password": true, "new_password": true, "current_password": true, "token": true,
	"receipt_code": true, "code": true, "secret": true, "otpauth_url": true, "totp_code": true,
	"id_number": true, "phone": true, "address": true, "employee_no": true,
	"title": true, "content": true, "requests": true, "text": true, "reason": true, "subjects": true,
	"comment": true, "value": true,
}

func (s *secretSet) add(v, what string) {
	// Short values (a category, "是") would match by accident; the
	// Han-character rule covers short Chinese text.
	if len(v) < 6 {
		return
	}
	s.mu.Lock()
	s.vals[v] = what
	s.mu.Unlock()
}

// note records the secrets of one exchange.
func (s *secretSet) note(token string, req, resp []byte) {
	if token != "" {
		s.add(token, "a bearer token")
	}
	for _, b := range [][]byte{req, resp} {
		var v any
		if json.Unmarshal(b, &v) == nil {
			s.walk("", v)
		}
	}
}

func (s *secretSet) walk(field string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			s.walk(k, e)
		}
	case []any:
		for _, e := range x {
			s.walk(field, e)
		}
	case string:
		if secretFields[field] {
			s.add(x, "the "+field+" field")
			if field == "receipt_code" || field == "code" {
				// Also as the vault normalises it.
				s.add(strings.ToUpper(strings.ReplaceAll(x, "-", "")), "the "+field+" field, normalised")
				s.add(strings.ToLower(strings.ReplaceAll(x, "-", "")), "the "+field+" field, normalised")
			}
		}
	}
}

// receiptLike matches a receipt code as the portal shows it.
var receiptLike = regexp.MustCompile(`\b[0-9A-Z]{4}(-[0-9A-Z]{4}){4}\b`)

// scanLog returns the problems found in a log.
func scanLog(log string, set *secretSet) []string {
	var out []string
	set.mu.Lock()
	defer set.mu.Unlock()
	vals := make([]string, 0, len(set.vals))
	for v := range set.vals {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	for _, v := range vals {
		// JSON logs escape some characters: look for both forms.
		enc, _ := json.Marshal(v)
		found := strings.Contains(log, v) || strings.Contains(log, string(enc[1:len(enc)-1]))
		if strings.Trim(v, "0123456789") == "" {
			// A short number (a TOTP code) is looked for as a whole
			// value, not inside a latency or a size.
			found = strings.Contains(log, `"`+v+`"`) || strings.Contains(log, "="+v+" ") || strings.Contains(log, " "+v+" ")
		}
		if found {
			out = append(out, fmt.Sprintf("the log holds %s (%d bytes)", set.vals[v], len(v)))
		}
	}
	for i, line := range strings.Split(log, "\n") {
		if strings.IndexFunc(line, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0 {
			out = append(out, fmt.Sprintf("log line %d holds Chinese text", i+1))
		}
		if receiptLike.MatchString(strings.ToUpper(line)) {
			out = append(out, fmt.Sprintf("log line %d holds something shaped like a receipt code", i+1))
		}
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		problems := scanLog(runLog.String(), runSecrets)
		if len(problems) > 0 {
			fmt.Fprintf(os.Stderr, "secrets hygiene: the log of the whole api test run (%d bytes, %d secret values noted):\n", len(runLog.String()), len(runSecrets.vals))
			for i, p := range problems {
				if i == 20 {
					fmt.Fprintf(os.Stderr, "  … and %d more\n", len(problems)-20)
					break
				}
				fmt.Fprintln(os.Stderr, "  "+p)
			}
			code = 1
		} else if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "secrets hygiene: %d bytes of log, %d secret values, none found\n", len(runLog.String()), len(runSecrets.vals))
		}
	}
	os.Exit(code)
}

// TestScanLogFinds: the scan that TestMain runs finds what it must.
func TestScanLogFinds(t *testing.T) {
	set := &secretSet{vals: map[string]string{}}
	set.note("tok3nvalu3abcdef", []byte(`{"password":"pa\"ss-word-1","code":"123456","title":"x"}`), []byte(`{"receipt_code":"AB12-CD34-EF56-GH78-JK90"}`))
	for _, tt := range []struct {
		log  string
		want bool
	}{
		{`{"msg":"request","latency_ns":91234567}`, false},
		{`{"msg":"request","user":"u1"}`, false},
		{`{"msg":"x","auth":"Bearer tok3nvalu3abcdef"}`, true},
		{`{"msg":"x","body":"pa\"ss-word-1"}`, true},
		{`{"msg":"x","code":"123456"}`, true},
		{`{"msg":"x","q":"ab12-cd34-ef56-gh78-jk91"}`, true},
		{`{"msg":"x","q":"AB12CD34EF56GH78JK90"}`, true},
		{`{"msg":"x","q":"ab12cd34ef56gh78jk90"}`, true},
		{`{"msg":"x","title":"拖欠工资"}`, true},
	} {
		if got := len(scanLog(tt.log, set)) > 0; got != tt.want {
			t.Errorf("scan of %s: found %v, want %v", tt.log, got, tt.want)
		}
	}
}
