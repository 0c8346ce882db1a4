package logtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestBufferKeepsConcurrentWritesWhole(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { fmt.Fprintf(&b, "line %02d\n", i) })
		wg.Go(func() { _ = b.String() })
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 20 {
		t.Fatalf("got %d lines, want 20", len(lines))
	}
	for _, l := range lines {
		if len(l) != len("line 00") {
			t.Errorf("torn line %q", l)
		}
	}
}

func TestPortAt(t *testing.T) {
	for s, want := range map[string]bool{
		"127.0.0.1:23669": true, "dial 10.0.0.7:23669": true, "localhost:23669": true, "(LOCALHOST:23669": true,
		"[::1]:23669": true, `"[fe80::1]:23669`: true, "tcp->127.0.0.1:23669": true,
		"zip:23669": false, "map[zip:23669": false, "1.2.3:23669": false, "1.2.3.4.5:23669": false,
		"a.localhost:23669": false, "::1:23669": false, "127.0.0.1:x": false,
	} {
		i := strings.LastIndexByte(s, ':') + 1
		if got := PortAt(s, i); got != want {
			t.Errorf("PortAt(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestContainsValue(t *testing.T) {
	cases := []struct {
		s, v string
		want bool
	}{
		{`{"zip":"97201"}`, "97201", true},
		{`{"msg":"zip 97201 refused"}`, "97201", true},
		{`97201`, "97201", true},
		// Inside a nanosecond timestamp, a UUID or a longer number: chance.
		{`{"time":"2026-12-01T05:02:13.222197201Z"}`, "97201", false},
		{`{"time":"2026-12-01T05:02:13.97201Z"}`, "97201", false},
		{`request 3f97201a-9b7d-4c8e`, "97201", false},
		{`size 1972010`, "97201", false},
		// Found after a chance occurrence on the same line.
		{`t=05.197201 zip=97201`, "97201", true},
		{`born 1962-06-23.`, "1962-06-23", true},
		{`id 11962-06-230`, "1962-06-23", false},
		// Values with letters are looked for anywhere, ignoring case.
		{`{"name":"xTURINGx"}`, "Turing", true},
		{`{"name":"Hopper"}`, "Turing", false},
		{`anything`, "", false},
		// A port is not a value; a value after a port still is.
		{`read tcp 127.0.0.1:23669->127.0.0.1:4566: use of closed network connection`, "23669", false},
		{`dial tcp localhost:23669: connection refused`, "23669", false},
		{`dial tcp [::1]:23669: connection refused`, "23669", false},
		{`{"zip":23669}`, "23669", true},
		{`{"zip": "23669"}`, "23669", true},
		{`127.0.0.1:23669 zip=23669`, "23669", true},
		{`"url":"http://127.0.0.1:23669/webhooks/x"`, "23669", false},
		// key:value text is not an address: a printed map or struct leaks.
		{`{"err":"bad record map[birth_date:1985-12-10 zip:23669]"}`, "23669", true},
		{`{"err":"bad record map[birth_date:1985-12-10 zip:23669]"}`, "1985-12-10", true},
		{`{family:ottoline zip:23669}`, "23669", true},
		{`id:23669`, "23669", true},
		{`x127.0.0.1:23669`, "23669", true},
		{`[::1:23669`, "23669", true},
	}
	for _, c := range cases {
		if got := ContainsValue(c.s, c.v); got != c.want {
			t.Errorf("ContainsValue(%q, %q) = %v, want %v", c.s, c.v, got, c.want)
		}
	}
}
