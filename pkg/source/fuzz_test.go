package source_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novamed/bridge/pkg/source"
)

// FuzzParse feeds arbitrary definitions (the JSON an operator stores in
// SSM) to Parse. It must never panic; every refusal is a *source.Error
// whose text quotes no part of the definition (a definition holds secrets);
// every acceptance carries the name and a verifier.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(`{"format":"form","format":"fhir-r4"}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`))
	f.Add([]byte("{\"format\":\"form\xff\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := source.Parse("fuzz-source", data)
		if err != nil {
			var se *source.Error
			if !errors.As(err, &se) {
				t.Fatal("Parse returned an error that is not a *source.Error")
			}
			for _, s := range secretsIn(data) {
				if strings.Contains(err.Error(), s) {
					t.Fatal("the error quotes a secret of the definition")
				}
			}
			return
		}
		if src.Name != "fuzz-source" || src.Verifier == nil {
			t.Fatal("an accepted source lacks its name or verifier")
		}
	})
}

// secretsIn returns the secrets of data, if it decodes that far.
func secretsIn(data []byte) []string {
	var def struct {
		Auth struct {
			Secrets []string `json:"secrets"`
		} `json:"auth"`
	}
	_ = json.Unmarshal(data, &def)
	var out []string
	for _, s := range def.Auth.Secrets {
		if len(s) >= 8 {
			out = append(out, s)
		}
	}
	return out
}
