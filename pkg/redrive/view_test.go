package redrive

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/phi"
)

// TestViewRecordWithoutGuardHoldsNoValue: whatever the record holds, the
// field-names view lists known field names with [PHI] and counts the other
// keys, and neither a value nor an unknown key reaches its JSON.
func TestViewRecordWithoutGuardHoldsNoValue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		kind := rapid.SampledFrom([]novamed.Kind{novamed.KindPatient, novamed.KindPractitioner}).Draw(t, "kind")
		known := novamed.FieldNames(kind)
		word := rapid.StringMatching(`[A-Za-z0-9 .@+()]{1,20}`)
		rec := map[string]string{}
		for _, name := range rapid.SliceOfDistinct(rapid.SampledFrom(known), func(s string) string { return s }).Draw(t, "known") {
			rec[name] = "val-" + word.Draw(t, "value")
		}
		unknown := rapid.IntRange(0, 4).Draw(t, "unknown")
		for i := range unknown {
			rec["key-"+word.Draw(t, "key")+string(rune('a'+i))] = "val-" + word.Draw(t, "value")
		}
		raw, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}

		view := viewRecord(kind, raw, nil)
		out, err := json.Marshal(view)
		if err != nil {
			t.Fatal(err)
		}
		if view.Mode != ModeFieldNames {
			t.Fatalf("mode %s", view.Mode)
		}
		wantUnknown := 0
		for k := range rec {
			if !slices.Contains(known, k) {
				wantUnknown++
			}
		}
		if view.UnknownFields != wantUnknown {
			t.Fatalf("unknown fields %d, want %d", view.UnknownFields, wantUnknown)
		}
		var names []string
		for _, f := range view.Fields {
			if f.Value != phi.Placeholder {
				t.Fatalf("field %s has a value", f.Name)
			}
			names = append(names, f.Name)
		}
		for _, k := range known {
			_, present := rec[k]
			if present != slices.Contains(names, k) {
				t.Fatalf("field %s: present %v, listed %v", k, present, !present)
			}
		}
		for k, v := range rec {
			if strings.Contains(string(out), v) {
				t.Fatalf("the view of field %s holds its value", k)
			}
			if !slices.Contains(known, k) && strings.Contains(string(out), k) {
				t.Fatal("the view names an unknown key")
			}
		}
	})
}
