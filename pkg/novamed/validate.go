package novamed

import (
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Reasons a field fails validation. They are stable slugs: safe to log and to
// return to a sender, because they never contain the value.
const (
	ReasonRequired   = "required"
	ReasonInvalid    = "invalid"
	ReasonTooLong    = "too_long"
	ReasonFuture     = "in_future"
	ReasonOutOfRange = "out_of_range"
	ReasonChecksum   = "bad_check_digit"
)

// maxFieldLen bounds every string field; NovaMed documents none, and nothing
// legitimate comes close.
const maxFieldLen = 256

// FieldError names a field and why it failed, never its value.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ValidationError lists every field of a record that failed validation.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("novamed: validation failed:")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteByte(' ')
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Reason)
	}
	return b.String()
}

// FieldNames returns the names of the failing fields, in order.
func (e *ValidationError) FieldNames() []string {
	names := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		names[i] = f.Field
	}
	return names
}

// IsValidation reports whether err is (or wraps) a *ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

type checker struct{ errs []FieldError }

func (c *checker) fail(field, reason string) { c.errs = append(c.errs, FieldError{field, reason}) }

func (c *checker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: c.errs}
}

// text checks length and control characters of any field, then the rule.
func (c *checker) text(field, v string, required bool, rule func(string) string) {
	if v == "" {
		if required {
			c.fail(field, ReasonRequired)
		}
		return
	}
	if len(v) > maxFieldLen {
		c.fail(field, ReasonTooLong)
		return
	}
	if !utf8.ValidString(v) || strings.IndexFunc(v, unsendable) >= 0 || strings.TrimSpace(v) == "" {
		c.fail(field, ReasonInvalid)
		return
	}
	if rule != nil {
		if reason := rule(v); reason != "" {
			c.fail(field, reason)
		}
	}
}

// unsendable reports characters no field needs and some transports refuse:
// control characters, and U+FFFE and U+FFFF, which SQS rejects in a message
// body (a record holding one could never be queued).
func unsendable(r rune) bool {
	return unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF
}

// Validate checks a patient against NovaMed's documented rules.
func (p PatientRequest) Validate() error { return p.validateAt(time.Now()) }

func (p PatientRequest) validateAt(now time.Time) error {
	var c checker
	c.text("clinic_id", p.ClinicID, true, reason(IsUUID))
	c.text("first_name", p.FirstName, true, nil)
	c.text("last_name", p.LastName, true, nil)
	c.text("date_of_birth", p.DateOfBirth, true, func(v string) string { return checkBirthDate(v, now) })
	c.text("email", p.Email, true, reason(IsEmail))
	c.text("gender", p.Gender, false, reason(IsGender))
	c.text("phone", p.Phone, false, reason(IsPhone))
	c.text("address_line1", p.AddressLine1, false, nil)
	c.text("address_line2", p.AddressLine2, false, nil)
	c.text("city", p.City, false, nil)
	c.text("state", p.State, false, reason(IsState))
	c.text("zip", p.Zip, false, reason(IsZip))
	return c.err()
}

// Validate checks a practitioner against NovaMed's documented rules.
func (p PractitionerRequest) Validate() error {
	var c checker
	c.text("first_name", p.FirstName, true, nil)
	c.text("last_name", p.LastName, true, nil)
	c.text("email", p.Email, true, reason(IsEmail))
	c.text("npi_number", p.NPINumber, true, checkNPI)
	c.text("assigned_clinic", p.AssignedClinic, true, reason(IsUUID))
	c.text("phone", p.Phone, false, reason(IsPhone))
	c.text("dea_number", p.DEANumber, false, nil)
	c.text("license_number", p.LicenseNumber, false, nil)
	c.text("license_state", p.LicenseState, false, reason(IsState))
	if len(p.SignatureImage) > maxSignatureImage {
		c.fail("signature_image", ReasonTooLong)
	} else if p.SignatureImage != "" && !isBase64(p.SignatureImage) {
		c.fail("signature_image", ReasonInvalid)
	}
	return c.err()
}

// maxSignatureImage bounds the base64 signature image (it is the only field
// that is legitimately large).
const maxSignatureImage = 128 << 10

func reason(ok func(string) bool) func(string) string {
	return func(v string) string {
		if ok(v) {
			return ""
		}
		return ReasonInvalid
	}
}

// IsUUID reports whether s is a UUID in its canonical 8-4-4-4-12 hex form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// DateLayout is NovaMed's date format.
const DateLayout = "2006-01-02"

// earliestBirthYear rejects dates that are typos rather than people.
const earliestBirthYear = 1900

func checkBirthDate(v string, now time.Time) string {
	d, err := time.Parse(DateLayout, v)
	if err != nil || d.Format(DateLayout) != v {
		return ReasonInvalid
	}
	if d.After(now) {
		return ReasonFuture
	}
	if d.Year() < earliestBirthYear {
		return ReasonOutOfRange
	}
	return ""
}

// IsEmail reports whether s is a bare address (no display name) with a dotted domain.
func IsEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	if plainAddress(s) {
		return true // what the parse below concludes, without its allocations
	}
	return parsedEmail(s)
}

// parsedEmail is IsEmail's rule, by net/mail.
func parsedEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.ContainsAny(s, " \"")
}

// plainAddress reports the common shape of an address: ASCII dot-atoms
// (RFC 5322 atext, single dots between atoms) either side of one '@', and
// a dot in the domain. net/mail reads such a text as that very address
// with no display name, so parsedEmail accepts it
// (TestPlainAddressesAreParsedEmails); anything else is parsed.
func plainAddress(s string) bool {
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return false
	}
	domain := s[at+1:]
	return dotAtom(s[:at]) && dotAtom(domain) && strings.IndexByte(domain, '.') >= 0
}

// dotAtom reports an RFC 5322 dot-atom of ASCII atext.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.':
			if s[i-1] == '.' {
				return false
			}
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) < 0:
			return false
		}
	}
	return true
}

// IsGender reports whether s is one of NovaMed's gender values.
func IsGender(s string) bool { return s == "male" || s == "female" || s == "other" }

// IsPhone accepts the phone shapes NovaMed shows (+1-555-0199): digits with
// optional leading +, separated by spaces, dashes, dots or parentheses.
func IsPhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case r == '-' || r == ' ' || r == '.' || r == '(' || r == ')':
		default:
			return false
		}
	}
	return digits >= 7 && digits <= 15
}

// usStates are the USPS codes of the states, DC and the territories.
var usStates = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Fields(`AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO
		MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR VI UM AA AE AP`) {
		m[s] = true
	}
	return m
}()

// IsState reports whether s is a 2-letter USPS state or territory code.
func IsState(s string) bool { return usStates[s] }

// IsZip reports whether s is a 5-digit ZIP or ZIP+4.
func IsZip(s string) bool {
	if len(s) != 5 && len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 5 {
			if s[i] != '-' {
				return false
			}
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsNPI reports whether s is a 10-digit NPI whose check digit is right.
func IsNPI(s string) bool { return checkNPI(s) == "" }

// checkNPI applies the Luhn algorithm to the NPI prefixed with 80840, as the
// NPI standard (45 CFR 162.406) specifies.
func checkNPI(s string) string {
	if len(s) != 10 {
		return ReasonInvalid
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return ReasonInvalid
		}
	}
	if !luhnValid("80840" + s) {
		return ReasonChecksum
	}
	return ""
}

func luhnValid(digits string) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// NPICheckDigit returns the check digit that completes a 9-digit NPI stem.
// The guard uses it to build synthetic NPIs that pass validation.
func NPICheckDigit(stem string) byte {
	for d := byte('0'); d <= '9'; d++ {
		if luhnValid("80840" + stem + string(d)) {
			return d
		}
	}
	return '0'
}

func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
