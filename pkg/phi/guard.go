package phi

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/novamed/bridge/pkg/novamed"
)

// Errors of the guard. None of them, nor anything they wrap, quotes a value.
var (
	// ErrMalformedRecord: the record's kind and body do not match.
	ErrMalformedRecord = errors.New("phi: record kind and body do not match")
	// ErrInvalidOutput: the de-identified record fails NovaMed's validation
	// (usually because the input lacked a required field). It wraps the
	// *novamed.ValidationError, which names fields only.
	ErrInvalidOutput = errors.New("phi: de-identified record is not valid")
	// ErrPseudonym: the Pseudonymizer returned fewer than MinPseudonymLen bytes.
	ErrPseudonym = errors.New("phi: pseudonym too short")
	// ErrTooLarge: DeidentifyJSON was given more than MaxBodyBytes.
	ErrTooLarge = errors.New("phi: record body too large")
	// ErrClinicID: New was given a development clinic that is not a UUID.
	ErrClinicID = errors.New("phi: development clinic id is not a UUID")
	// ErrNoPseudonymizer: New was given a nil Pseudonymizer.
	ErrNoPseudonymizer = errors.New("phi: no pseudonymizer")
	// errFutureBirthDate is wrapped in a RedactedError for date_of_birth.
	errFutureBirthDate = errors.New("birth date in the future")
)

// MaxBodyBytes bounds what DeidentifyJSON reads: the largest legitimate
// body (a practitioner with a 128 KiB signature image) with room to spare.
const MaxBodyBytes = 512 << 10

// Age at and above which the birth year is replaced (Safe Harbor).
const ageCap = 90

// Report counts what de-identification did, by field. It holds counts only,
// never names or values, so it is safe to log and to turn into metrics.
type Report struct {
	Replaced    int `json:"replaced"`    // synthetic values and the configured clinic
	Generalized int `json:"generalized"` // birth date and ZIP made coarser
	Kept        int `json:"kept"`        // values passed unchanged (not PHI)
	Dropped     int `json:"dropped"`     // fields removed: by policy, invalid kept values, unknown keys
}

// Guard de-identifies NovaMed records for non-production targets. It is safe
// for concurrent use.
type Guard struct {
	p      Pseudonymizer
	clinic string
	now    func() time.Time
}

// Option configures a Guard.
type Option func(*Guard)

// WithClock sets the clock used for the age-90 rule (tests pin it).
func WithClock(now func() time.Time) Option { return func(g *Guard) { g.now = now } }

// New returns a Guard that pseudonymises with p and assigns every record to
// devClinicID, the development clinic from configuration.
func New(p Pseudonymizer, devClinicID string, opts ...Option) (*Guard, error) {
	if p == nil {
		return nil, ErrNoPseudonymizer
	}
	if !novamed.IsUUID(devClinicID) {
		return nil, ErrClinicID
	}
	g := &Guard{p: p, clinic: devClinicID, now: time.Now}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

const guardString = "phi.Guard{[REDACTED]}"

// String, GoString, Format and LogValue keep the pseudonymizer (and its key)
// out of every printout.
func (g *Guard) String() string             { return guardString }
func (g *Guard) GoString() string           { return guardString }
func (g *Guard) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(guardString)) }
func (g *Guard) LogValue() slog.Value       { return slog.StringValue(guardString) }

// Apply is the one decision point for callers: records bound for Production
// pass unchanged; records bound anywhere else are de-identified.
func (g *Guard) Apply(env Environment, rec novamed.Record) (novamed.Record, Report, error) {
	if env.AllowsPHI() {
		return rec, Report{}, nil
	}
	return g.Deidentify(rec)
}

// Deidentify returns a de-identified copy of rec, as docs/phi-policy.md
// prescribes, and what it did. The copy shares no memory with rec. On any
// error it returns the zero Record: never the original, never a partial one.
func (g *Guard) Deidentify(rec novamed.Record) (novamed.Record, Report, error) {
	if !shapeOK(rec) {
		return novamed.Record{}, Report{}, ErrMalformedRecord
	}
	// The tripwire's secrets are what rec.Body() holds; recordSecrets reads
	// them from the struct rather than marshalling and parsing it again.
	secrets := func(known map[string]treatment, kept map[string]bool) ([]string, error) {
		return recordSecrets(rec, known, kept)
	}
	return g.deidentify(rec, secrets, Report{})
}

// DeidentifyHeld de-identifies a record that is held (NovaMed cannot take
// it as it stands, so it goes to the dead-letter queue, never to NovaMed)
// under the same policy as Deidentify: the output may lack the fields the
// input lacks, so it is not validated, and an input value the policy
// cannot treat (a birth date that is not a date) is dropped, not kept.
// Every value of the input still arms the tripwire.
func (g *Guard) DeidentifyHeld(rec novamed.Record) (novamed.Record, Report, error) {
	if !shapeOK(rec) {
		return novamed.Record{}, Report{}, ErrMalformedRecord
	}
	secrets := func(known map[string]treatment, kept map[string]bool) ([]string, error) {
		return recordSecrets(rec, known, kept)
	}
	in, rep := rec, Report{}
	if rec.Kind == novamed.KindPatient && rec.Patient.DateOfBirth != "" {
		if _, err := parseBirthDate(rec.Patient.DateOfBirth, g.now()); err != nil {
			p := *rec.Patient
			p.DateOfBirth = ""
			in.Patient = &p
			rep.Dropped++
		}
	}
	out, rep, err := g.build(in, secrets, rep)
	if err != nil {
		return novamed.Record{}, Report{}, err
	}
	return out, rep, nil
}

// DeidentifyJSON decodes a NovaMed body of the given kind strictly (see
// novamed.DecodeRecord: keys match exactly, so case variants and look-alike
// keys are unknown and dropped; a duplicate key or a non-string value is an
// error) and de-identifies it. Every value in raw that the policy does not
// keep, unknown and nested ones included, arms the tripwire.
func (g *Guard) DeidentifyJSON(kind novamed.Kind, raw []byte) (novamed.Record, Report, error) {
	if len(raw) > MaxBodyBytes {
		return novamed.Record{}, Report{}, ErrTooLarge
	}
	rec, dec, err := novamed.DecodeRecord(kind, raw)
	if err != nil {
		return novamed.Record{}, Report{}, fmt.Errorf("phi: decode: %w", err)
	}
	secrets := func(known map[string]treatment, kept map[string]bool) ([]string, error) {
		return collectSecrets(raw, known, kept)
	}
	return g.deidentify(rec, secrets, Report{Dropped: dec.Dropped})
}

func shapeOK(rec novamed.Record) bool {
	switch rec.Kind {
	case novamed.KindPatient:
		return rec.Patient != nil && rec.Practitioner == nil
	case novamed.KindPractitioner:
		return rec.Practitioner != nil && rec.Patient == nil
	}
	return false
}

// secretSource returns the tripwire's secrets: every value of the input
// (the caller's JSON body, or the record as its body would hold it) that
// the policy does not keep. See collectSecrets.
type secretSource func(known map[string]treatment, kept map[string]bool) ([]string, error)

// deidentify builds the output; secrets reads the tripwire's secrets from
// the input. The tripwire runs while the record is built (that is where the
// secrets and the disclosed values are known), validation last.
func (g *Guard) deidentify(rec novamed.Record, secrets secretSource, rep Report) (novamed.Record, Report, error) {
	out, rep, err := g.build(rec, secrets, rep)
	if err != nil {
		return novamed.Record{}, Report{}, err
	}
	if err := out.Validate(); err != nil {
		return novamed.Record{}, Report{}, fmt.Errorf("%w: %w", ErrInvalidOutput, err)
	}
	return out, rep, nil
}

// build makes the de-identified record, tripwire included, without
// validating it.
func (g *Guard) build(rec novamed.Record, secrets secretSource, rep Report) (novamed.Record, Report, error) {
	if !shapeOK(rec) {
		return novamed.Record{}, Report{}, ErrMalformedRecord
	}
	var out novamed.Record
	var err error
	switch rec.Kind {
	case novamed.KindPatient:
		out, err = g.patient(*rec.Patient, secrets, &rep)
	default:
		out, err = g.practitioner(*rec.Practitioner, secrets, &rep)
	}
	if err != nil {
		return novamed.Record{}, Report{}, err
	}
	return out, rep, nil
}

// synthesize sets *dst to a synthetic value chosen by the pseudonym of value
// in domain (the domain also names the field in errors), avoiding what t
// rejects. When no candidate avoids the input values, the record is refused
// with ErrTripwire. gen captures nothing (t is its argument), so the
// generators are static functions, not a closure allocated per field.
func (g *Guard) synthesize(domain, value string, gen func([]byte, *tripwire) (string, bool), t *tripwire, dst *string) error {
	ps := g.p.Pseudonym(domain, value)
	if len(ps) < MinPseudonymLen {
		return ErrPseudonym
	}
	v, ok := gen(ps, t)
	if !ok {
		return fmt.Errorf("%w: no synthetic value for %s avoids the input", ErrTripwire, domain)
	}
	*dst = v
	return nil
}

func (g *Guard) patient(in novamed.PatientRequest, collect secretSource, rep *Report) (novamed.Record, error) {
	out := novamed.PatientRequest{}
	t := newTripwire()
	kept := map[string]bool{}

	// Kept and generalised values first: they are what the policy discloses.
	if in.Gender != "" {
		if novamed.IsGender(in.Gender) {
			out.Gender = in.Gender
			kept["gender"] = true
			t.disclose(out.Gender)
			rep.Kept++
		} else {
			rep.Dropped++
		}
	}
	if in.State != "" {
		if novamed.IsState(in.State) {
			out.State = in.State
			kept["state"] = true
			t.disclose(out.State)
			rep.Kept++
		} else {
			rep.Dropped++
		}
	}
	var dob string
	if in.DateOfBirth != "" {
		var err error
		if dob, err = parseBirthDate(in.DateOfBirth, g.now()); err != nil {
			return novamed.Record{}, err
		}
		out.DateOfBirth = generalizeBirthDate(dob, g.now())
		t.disclose(out.DateOfBirth)
		rep.Generalized++
	}
	if in.Zip != "" {
		if z, ok := generalizeZip(in.Zip); ok {
			out.Zip = z
			t.disclose(out.Zip)
			rep.Generalized++
		} else {
			rep.Dropped++
		}
	}
	if in.ClinicID != "" {
		out.ClinicID = g.clinic
		t.disclose(g.clinic)
		rep.Replaced++
	}
	if in.AddressLine2 != "" {
		rep.Dropped++
	}

	secrets, err := collect(patientPolicy, kept)
	if err != nil {
		return novamed.Record{}, ErrMalformedRecord
	}
	// These inputs are secrets and pseudonym keys: normalise them once.
	t.remember(in.FirstName, in.LastName, in.Email, in.AddressLine1, in.City)
	t.arm(secrets)

	// One patient stays one patient: names and email come from one
	// pseudonym of the identifying tuple, each field in its own domain.
	first, last, email := t.skeleton(in.FirstName), t.skeleton(in.LastName), t.skeleton(in.Email)
	id := strings.Join([]string{first, last, dob, email}, "\x1f")
	// Phone, street and city belong to the patient too: keyed on the
	// identity and the value together. Keyed on the value alone, everyone
	// from one real city would share one synthetic city (beside the kept
	// state and ZIP prefix, a geocode below state level that links
	// patients); keyed on the identity alone, a changed phone or address
	// would look unchanged. A record with neither name nor email has no
	// identity to key on, so these fields are dropped.
	ofPatient := func(v string) string { return id + "\x1f" + v }
	anonymous := first == "" && last == "" && email == ""
	synth := []struct {
		domain string // "patient." + the field
		in     string
		value  string // what the pseudonym is keyed on
		make   func(ps []byte, t *tripwire) (string, bool)
		dst    *string
		// ofPatient fields need the patient's identity in their key.
		ofPatient bool
	}{
		{"patient.first_name", in.FirstName, id, func(ps []byte, t *tripwire) (string, bool) { return pick(firstNames, firstNameSkeletons, ps, t) }, &out.FirstName, false},
		{"patient.last_name", in.LastName, id, func(ps []byte, t *tripwire) (string, bool) { return pick(lastNames, lastNameSkeletons, ps, t) }, &out.LastName, false},
		{"patient.email", in.Email, id, func(ps []byte, t *tripwire) (string, bool) { return syntheticEmail("p-", ps, t) }, &out.Email, false},
		{"patient.phone", in.Phone, ofPatient(digitsOnly(in.Phone)), syntheticPhone, &out.Phone, true},
		{"patient.address_line1", in.AddressLine1, ofPatient(t.skeleton(in.AddressLine1)), syntheticStreet, &out.AddressLine1, true},
		{"patient.city", in.City, ofPatient(t.skeleton(in.City)), func(ps []byte, t *tripwire) (string, bool) { return pick(cityNames, cityNameSkeletons, ps, t) }, &out.City, true},
	}
	for _, s := range synth {
		if s.in == "" {
			continue // a missing field stays missing: the shape survives
		}
		if s.ofPatient && anonymous {
			rep.Dropped++
			continue
		}
		if err := g.synthesize(s.domain, s.value, s.make, t, s.dst); err != nil {
			return novamed.Record{}, err
		}
		rep.Replaced++
	}
	rec := novamed.Record{Kind: novamed.KindPatient, Patient: &out}
	return rec, checkRecord(t, rec)
}

func (g *Guard) practitioner(in novamed.PractitionerRequest, collect secretSource, rep *Report) (novamed.Record, error) {
	out := novamed.PractitionerRequest{}
	t := newTripwire()
	kept := map[string]bool{}

	// A practitioner's professional identity is public (the NPI registry).
	for _, f := range []struct {
		key string
		v   string
		dst *string
	}{
		{"first_name", in.FirstName, &out.FirstName},
		{"last_name", in.LastName, &out.LastName},
		{"npi_number", in.NPINumber, &out.NPINumber},
	} {
		if f.v != "" {
			*f.dst = f.v
			kept[f.key] = true
			t.disclose(f.v)
			rep.Kept++
		}
	}
	if in.LicenseState != "" {
		if novamed.IsState(in.LicenseState) {
			out.LicenseState = in.LicenseState
			kept["license_state"] = true
			t.disclose(out.LicenseState)
			rep.Kept++
		} else {
			rep.Dropped++
		}
	}
	if in.AssignedClinic != "" {
		out.AssignedClinic = g.clinic
		t.disclose(g.clinic)
		rep.Replaced++
	}
	for _, v := range []string{in.DEANumber, in.LicenseNumber, in.SignatureImage} {
		if v != "" {
			rep.Dropped++
		}
	}

	secrets, err := collect(practitionerPolicy, kept)
	if err != nil {
		return novamed.Record{}, ErrMalformedRecord
	}
	t.arm(secrets)

	// The NPI identifies a practitioner uniquely and for life.
	if in.Email != "" {
		mk := func(ps []byte, t *tripwire) (string, bool) { return syntheticEmail("dr-", ps, t) }
		if err := g.synthesize("practitioner.email", skeleton(in.NPINumber), mk, t, &out.Email); err != nil {
			return novamed.Record{}, err
		}
		rep.Replaced++
	}
	if in.Phone != "" {
		// Keyed on the NPI too: colleagues sharing a practice's number do
		// not share a synthetic one.
		if err := g.synthesize("practitioner.phone", skeleton(in.NPINumber)+"\x1f"+digitsOnly(in.Phone), syntheticPhone, t, &out.Phone); err != nil {
			return novamed.Record{}, err
		}
		rep.Replaced++
	}
	rec := novamed.Record{Kind: novamed.KindPractitioner, Practitioner: &out}
	return rec, checkRecord(t, rec)
}

// checkRecord runs the tripwire over the record's wire body.
func checkRecord(t *tripwire, rec novamed.Record) error {
	body, err := rec.Body()
	if err != nil {
		return ErrMalformedRecord
	}
	return t.check(body)
}

// parseBirthDate reads a NovaMed date (full-width digits allowed) and returns
// it in canonical form. Errors are redacted: time.Parse quotes its input.
func parseBirthDate(v string, now time.Time) (string, error) {
	s := strings.TrimSpace(norm.NFKC.String(v))
	d, err := time.Parse(novamed.DateLayout, s)
	if err != nil {
		return "", RedactField("date_of_birth", err)
	}
	if d.After(now) {
		return "", RedactField("date_of_birth", errFutureBirthDate)
	}
	return d.Format(novamed.DateLayout), nil
}

// generalizeBirthDate keeps the year and sets month and day to 01-01. Ages of
// 90 or more become the year that makes the age exactly 90 (with 01-01 as
// the birthday, the age is simply the difference of the years).
func generalizeBirthDate(canonical string, now time.Time) string {
	year, _ := strconv.Atoi(canonical[:4])
	if floor := now.Year() - ageCap; year < floor {
		year = floor
	}
	if year < 0 {
		return fmt.Sprintf("%04d-01-01", year) // not a date parseBirthDate returns
	}
	// fmt.Sprintf("%04d-01-01", year), without fmt's cost.
	y := strconv.Itoa(year)
	if len(y) < 4 {
		y = "0000"[len(y):] + y
	}
	return y + "-01-01"
}

// generalizeZip keeps the three-digit prefix, or none for the sparsely
// populated prefixes. A ZIP that is not valid (after NFKC, so full-width
// digits count) is dropped.
func generalizeZip(v string) (string, bool) {
	z := strings.TrimSpace(norm.NFKC.String(v))
	if !novamed.IsZip(z) {
		return "", false
	}
	if restrictedZip3[z[:3]] {
		return "00000", true
	}
	return z[:3] + "00", true
}
