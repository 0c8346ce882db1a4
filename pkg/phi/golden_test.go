package phi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novamed/bridge/pkg/novamed"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// golden is what a golden file holds: the de-identified body and the report.
type golden struct {
	Record json.RawMessage `json:"record"`
	Report Report          `json:"report"`
}

func kindOf(tb testing.TB, name string) novamed.Kind {
	tb.Helper()
	switch {
	case strings.HasPrefix(name, "patient_"):
		return novamed.KindPatient
	case strings.HasPrefix(name, "practitioner_"):
		return novamed.KindPractitioner
	}
	tb.Fatalf("testdata file %s: name must start with patient_ or practitioner_", name)
	return ""
}

func TestGolden(t *testing.T) {
	g := newTestGuard(t)
	inputs, err := filepath.Glob("testdata/*.input.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs found")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".input.json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			kind := kindOf(t, name)
			rec, rep, err := g.DeidentifyJSON(kind, raw)
			if err != nil {
				t.Fatalf("DeidentifyJSON: %v", err)
			}
			if err := rec.Validate(); err != nil {
				t.Fatalf("output fails validation: %v", err)
			}
			out := fieldsOf(t, rec)
			if leaked := leakedFields(kind, inputValues(t, raw, kind), out); len(leaked) > 0 {
				t.Fatalf("input values reached output fields %v", leaked)
			}
			body, _ := rec.Body()
			got, err := json.MarshalIndent(golden{Record: body, Report: rep}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("missing golden file %s (run go test -update)", path)
			}
			if !bytes.Equal(got, want) {
				var w golden
				if err := json.Unmarshal(want, &w); err != nil {
					t.Fatalf("golden file %s is not valid", path)
				}
				wantRec, _, err := novamed.DecodeRecord(kind, w.Record)
				if err != nil {
					t.Fatalf("golden file %s holds no valid record", path)
				}
				t.Errorf("output differs from %s in fields %v, report got %+v want %+v",
					path, differingFields(out, fieldsOf(t, wantRec)), rep, w.Report)
			}
		})
	}
}

// TestGoldenNormalisation: the same person written in NFC and in NFD with a
// zero-width joiner and other case is one person in development.
func TestGoldenNormalisation(t *testing.T) {
	g := newTestGuard(t)
	var outs []map[string]string
	for _, name := range []string{"patient_names_nfc", "patient_names_nfd"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name+".input.json"))
		if err != nil {
			t.Fatal(err)
		}
		rec, _, err := g.DeidentifyJSON(novamed.KindPatient, raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		outs = append(outs, fieldsOf(t, rec))
	}
	if d := differingFields(outs[0], outs[1]); len(d) > 0 {
		t.Errorf("NFC and NFD spellings of one patient differ in fields %v", d)
	}
}
