package novamed

import (
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// Every address plainAddress takes, net/mail reads as itself with no
// display name: the shortcut never accepts what the parse refuses.
func TestPlainAddressesAreParsedEmails(t *testing.T) {
	atext := "abcXYZ019!#$%&'*+-/=?^_`{|}~"
	atom := rapid.StringOfN(rapid.SampledFrom([]rune(atext)), 1, 6, -1)
	dotAtom := func(t *rapid.T, label string, min int) string {
		return strings.Join(rapid.SliceOfN(atom, min, 4).Draw(t, label), ".")
	}
	rapid.Check(t, func(t *rapid.T) {
		s := dotAtom(t, "local", 1) + "@" + dotAtom(t, "domain", 2)
		if !plainAddress(s) {
			t.Fatalf("plainAddress(%q) = false", s)
		}
		if len(s) <= 254 && !parsedEmail(s) {
			t.Fatalf("plainAddress takes %q, net/mail refuses it", s)
		}
	})
	// Any text: what the shortcut takes, the parse takes.
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringMatching(`[a-z.@" <>()\[\]\\,;:!#~é-]{0,16}`).Draw(t, "s")
		if plainAddress(s) && !parsedEmail(s) {
			t.Fatalf("plainAddress takes %q, net/mail refuses it", s)
		}
	})
	for _, s := range []string{"a@b.co", "ada.lovelace@example.com", "x+tag@mail.example.org"} {
		if !plainAddress(s) {
			t.Errorf("plainAddress(%q) = false: the common case is parsed", s)
		}
	}
	for _, s := range []string{"a@b", "a..b@c.d", ".a@b.c", "a.@b.c", "a@b.c.", "a@.b.c", "@b.c", "a@", "a@b@c.d", "a b@c.d", `"a"@b.c`, "é@b.c", "Ada <a@b.c>"} {
		if plainAddress(s) {
			t.Errorf("plainAddress(%q) = true", s)
		}
	}
}
