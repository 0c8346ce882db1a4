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
