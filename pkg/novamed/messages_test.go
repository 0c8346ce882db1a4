package novamed

import (
	"strings"
	"testing"
)

func TestDocumentedMessage(t *testing.T) {
	for _, tc := range []struct {
		msg, want string
		ok        bool
	}{
		{"Clinic not found", MsgClinicNotFound, true},
		{"  clinic   NOT found. ", MsgClinicNotFound, true},
		{"Clinic ID must be a valid UUID.", MsgClinicIDNotUUID, true},
		{"Clinic ID must be a valid UUID", MsgClinicIDNotUUID, true},
		{"Ｖａｌｉｄａｔｉｏｎ error", MsgValidation, true}, // full-width letters fold (NFKC)
		{MsgUnauthorized, MsgUnauthorized, true},
		{"Resource not found", MsgNotFound, true},
		// Partial echoes of a record (issue 14, item 7): never documented.
		{"Account sunflower already exists", "", false},
		{"Christophe", "", false},
		{"Clinic not found: Christophe", "", false},
		{"Validation error for sunflower", "", false},
		{"Patient already exists", "", false},
		{"Internal server error", "", false},
		{"", "", false},
		{strings.Repeat("Clinic not found ", 100), "", false},
	} {
		got, ok := DocumentedMessage(tc.msg)
		if got != tc.want || ok != tc.ok {
			t.Errorf("DocumentedMessage(%q) = %q, %v; want %q, %v", tc.msg, got, ok, tc.want, tc.ok)
		}
	}
}
