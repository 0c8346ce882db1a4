package novamed

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestFieldNamesMatchRequestBodies ties FieldNames to the JSON tags of the
// request types, so a field added to one and not the other fails here.
func TestFieldNamesMatchRequestBodies(t *testing.T) {
	tests := []struct {
		kind Kind
		body any
	}{
		{KindPatient, PatientRequest{}},
		{KindPractitioner, PractitionerRequest{}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			b, err := json.Marshal(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			got := FieldNames(tt.kind)
			if !slices.IsSorted(got) {
				t.Errorf("FieldNames(%s) is not sorted", tt.kind)
			}
			for _, name := range got {
				if !isField(tt.kind, name) {
					t.Errorf("FieldNames(%s) has %s, which DecodeRecord does not take", tt.kind, name)
				}
			}
			// omitempty hides optional fields in m; every key m has must be listed.
			for name := range m {
				if !slices.Contains(got, name) {
					t.Errorf("FieldNames(%s) lacks %s", tt.kind, name)
				}
			}
		})
	}
	if FieldNames("nurse") != nil {
		t.Error("FieldNames of an unknown kind is not nil")
	}
}

// isField reports whether DecodeRecord takes name as a field of kind k.
func isField(k Kind, name string) bool {
	_, d, err := DecodeRecord(k, []byte(`{"`+name+`":"x"}`))
	return err == nil && d.Dropped == 0
}
