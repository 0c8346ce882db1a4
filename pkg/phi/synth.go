package phi

import (
	"encoding/base32"
	"encoding/binary"
	"strconv"
	"strings"
)

const (
	// syntheticEmailDomain is reserved by RFC 2606: mail to it goes nowhere.
	syntheticEmailDomain = "example.com"
	// syntheticPhonePrefix is the start of 555-0100..555-0199, the range
	// reserved for fiction.
	syntheticPhonePrefix = "+1-555-01"
	// emailCodeLen is the pseudonym's length in an email: 12 base32
	// characters are 60 bits, so 100,000 people collide with probability
	// about 4e-9, while the visible code stays short (docs/phi-policy.md, "a
	// known tension").
	emailCodeLen = 12
)

var emailEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// seedOf reads a pick's starting point from a pseudonym.
func seedOf(ps []byte) uint64 { return binary.BigEndian.Uint64(ps[:8]) }

// pick chooses from list by the pseudonym, stepping past candidates the
// tripwire would reject. It reports false when every candidate is rejected.
// skeletons holds the skeletons of list, computed once at start-up.
func pick(list, skeletons []string, ps []byte, t *tripwire) (string, bool) {
	start := seedOf(ps) % uint64(len(list))
	for i := range uint64(len(list)) {
		j := (start + i) % uint64(len(list))
		if !t.avoidSkeleton(skeletons[j]) {
			return list[j], true
		}
	}
	return "", false
}

// syntheticEmail returns prefix-<code>@example.com, the code being the first
// 12-character window of the pseudonym's base32 form the tripwire accepts.
func syntheticEmail(prefix string, ps []byte, t *tripwire) (string, bool) {
	code := emailEncoding.EncodeToString(ps)
	for w := 0; w+emailCodeLen <= len(code); w += emailCodeLen {
		c := prefix + code[w:w+emailCodeLen] + "@" + syntheticEmailDomain
		if !t.avoid(c) {
			return c, true
		}
	}
	return "", false
}

// syntheticPhone returns a number in +1-555-0100..+1-555-0199.
func syntheticPhone(ps []byte, t *tripwire) (string, bool) {
	start := seedOf(ps) % 100
	for i := range uint64(100) {
		n := (start + i) % 100
		c := syntheticPhonePrefix + strconv.FormatUint(n/10, 10) + strconv.FormatUint(n%10, 10)
		if !t.avoid(c) {
			return c, true
		}
	}
	return "", false
}

// syntheticStreet returns "<number> <name> <suffix>", the number in 100..9999.
func syntheticStreet(ps []byte, t *tripwire) (string, bool) {
	seed := seedOf(ps)
	num := binary.BigEndian.Uint64(ps[8:16])
	suffix := streetSuffixes[(seed>>32)%uint64(len(streetSuffixes))]
	for i := range uint64(len(streetNames)) {
		name := streetNames[(seed+i)%uint64(len(streetNames))]
		n := 100 + (num+i*7919)%9900
		var b strings.Builder
		b.WriteString(strconv.FormatUint(n, 10))
		b.WriteByte(' ')
		b.WriteString(name)
		b.WriteByte(' ')
		b.WriteString(suffix)
		if c := b.String(); !t.avoid(c) {
			return c, true
		}
	}
	return "", false
}
