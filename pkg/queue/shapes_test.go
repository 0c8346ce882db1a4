package queue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// The hand-written shape checks accept exactly what the regular
// expressions they replaced accept.
func TestShapeChecksMatchTheirRegexps(t *testing.T) {
	checks := []struct {
		re    *regexp.Regexp
		check func(string) bool
	}{
		{regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`), validNovaMedID},
		{regexp.MustCompile(`^[a-z0-9_]{1,64}$`), ValidSlug},
		{regexp.MustCompile(`^[0-9a-f]{16}$`), validDigest},
		{regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`), ValidSource},
		{regexp.MustCompile(`^sub:[0-9a-f]{32}$`), ValidSubject},
		{recordIDRE, func(s string) bool {
			ev, i, err := ParseRecordID(s)
			if m := recordIDRE.FindStringSubmatch(s); m != nil && err == nil && (ev != m[1] || strconv.Itoa(i) != m[2]) {
				return false // the parts differ from the groups: fail below
			}
			return err == nil
		}},
	}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.OneOf(
			rapid.StringMatching(`[A-Za-z0-9_.\-]{0,66}`),
			rapid.StringMatching(`[0-9a-gA-F]{15,17}`),
			rapid.StringMatching(`(sub:)?[0-9a-g]{31,33}`),
			rapid.StringMatching(`[A-Za-z0-9_.\-]{0,65}:[0-9a-gA]{31,33}/(0|00|[1-9][0-9]{0,6}|-1)`),
			rapid.String(),
		).Draw(t, "s")
		for i, c := range checks {
			if got, want := c.check(s), c.re.MatchString(s); got != want {
				t.Fatalf("check %d on %q: %v, the regexp says %v", i, s, got, want)
			}
		}
	})
}

// recordIDRE is the record id's shape, which ParseRecordID checks by hand.
var recordIDRE = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.\-]{0,63}:[0-9a-f]{32})/(0|[1-9][0-9]{0,5})$`)

// FieldDigests with one MAC reset per field gives the digests of a new MAC
// per field.
func TestFieldDigestsMatchAFreshMACPerField(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	body := []byte(`{"first_name":"Ada","last_name":"Lovelace","email":"ada@example.org","phone":""}`)
	got, err := FieldDigests(key, body)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for name, v := range map[string]string{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"} {
		m := hmac.New(sha256.New, key)
		writeField(m, []byte(fieldDomain))
		writeField(m, []byte(name))
		writeField(m, []byte(v))
		want[name] = hex.EncodeToString(m.Sum(nil))[:16]
	}
	if len(got) != len(want) {
		t.Fatalf("%d digests, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("digest of %s differs", k)
		}
	}
}
