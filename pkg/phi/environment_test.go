package phi

import (
	"testing"

	"github.com/novamed/bridge/pkg/novamed"
)

func TestResolve(t *testing.T) {
	prodURL := novamed.ProductionURL
	devURL := novamed.DevelopmentURL
	stages := []string{"prod", "", "dev", "prod ", " prod", "PROD", "Prod", "production", "prod\n", "pr\u200bod", "ｐｒｏｄ", "staging"}
	urls := []struct {
		url  string
		prod bool // Production under stage "prod"
	}{
		{prodURL, true},
		{prodURL + novamed.PatientPath, true},
		{prodURL + novamed.PractitionerPath, true},
		{"https://feapi.novamed.care:443/api/external/patient", true},
		{"HTTPS://feapi.novamed.care", true}, // the scheme is case-insensitive
		{"https://feapi.novamed.care/", true},

		{devURL, false},
		{devURL + novamed.PatientPath, false},
		{"http://feapi.novamed.care", false},
		{"http://127.0.0.1:8080", false},
		{"https://127.0.0.1", false},
		{"https://localhost", false},
		{"https://[::1]:8443", false},
		{"https://feapi.novamed.care.", false},
		{"https://feapi.novamed.care.evil.com", false},
		{"https://evilfeapi.novamed.care", false},
		{"https://api.feapi.novamed.care", false},
		{"https://FEAPI.NOVAMED.CARE", false},
		{"https://feapi.novamed.care:8443", false},
		{"https://feapi.novamed.care:", false},
		{"https://user:pw@feapi.novamed.care", false},
		{"https://feapi.novamed.care@evil.com", false},
		{"https://evil.com#@feapi.novamed.care", false},
		{"https://evil.com/?h=feapi.novamed.care", false},
		{"https://feapi.novamed.care%2eevil.com", false},
		{"https://feаpi.novamed.care", false}, // Cyrillic а
		{"https://xn--fepi-6ve.novamed.care", false},
		{"feapi.novamed.care", false},
		{"//feapi.novamed.care", false},
		{"https:feapi.novamed.care", false},
		{"ftp://feapi.novamed.care", false},
		{"wss://feapi.novamed.care", false},
		{"https://feapi.novamed.care\\@evil.com", false},
		{"https://feapi.novamed.care\x00", false},
		{" https://feapi.novamed.care", false},
		{"", false},
		{"::", false},
	}
	for _, stage := range stages {
		for _, u := range urls {
			want := NonProduction
			if stage == "prod" && u.prod {
				want = Production
			}
			if got := Resolve(stage, u.url); got != want {
				t.Errorf("Resolve(%q, %q) = %v, want %v", stage, u.url, got, want)
			}
		}
	}
}

func TestEnvironmentZeroValueIsNonProduction(t *testing.T) {
	var e Environment
	if e != NonProduction || e.AllowsPHI() {
		t.Fatal("zero Environment must be NonProduction and must not allow PHI")
	}
	for _, e := range []Environment{-1, 2, 99} {
		if e.AllowsPHI() {
			t.Errorf("Environment(%d) allows PHI", int(e))
		}
	}
}

func TestEnvironmentString(t *testing.T) {
	for e, want := range map[Environment]string{
		Production:      "production",
		NonProduction:   "non-production",
		Environment(7):  "non-production(7)",
		Environment(-1): "non-production(-1)",
	} {
		if got := e.String(); got != want {
			t.Errorf("Environment(%d).String() = %q, want %q", int(e), got, want)
		}
	}
}
