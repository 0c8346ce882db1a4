package phi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// visitCall is one call of walkValues' callbacks: a top-level key (onKey) or a
// value found under one.
type visitCall struct {
	key   bool
	top   string
	value string
}

type walkFunc func([]byte, func(string), func(string, string) bool) error

// record walks raw and returns the calls, stopping after stopAfter visits
// (never when stopAfter < 0).
func record(walk walkFunc, raw []byte, stopAfter int) ([]visitCall, error) {
	var calls []visitCall
	visits := 0
	err := walk(raw, func(k string) {
		calls = append(calls, visitCall{key: true, top: k})
	}, func(top, v string) bool {
		calls = append(calls, visitCall{top: top, value: v})
		visits++
		return stopAfter < 0 || visits < stopAfter
	})
	return calls, err
}

func TestWalkValuesVisits(t *testing.T) {
	k := func(top string) visitCall { return visitCall{key: true, top: top} }
	v := func(top, s string) visitCall { return visitCall{top: top, value: s} }
	tests := []struct {
		name string
		raw  string
		want []visitCall
	}{
		{"empty", `{}`, nil},
		{"padded", " \t\r\n{ \n} x", nil},
		{"flat", `{"a":"x","b":"y"}`, []visitCall{k("a"), v("a", "x"), k("b"), v("b", "y")}},
		{"numbers as written", `{"n":-0.50e+07,"m":[1,2E3,0]}`, []visitCall{k("n"), v("n", "-0.50e+07"), k("m"), v("m", "1"), v("m", "2E3"), v("m", "0")}},
		{"literals are not visited", `{"t":true,"f":false,"z":null,"a":[true,null]}`, []visitCall{k("t"), k("f"), k("z"), k("a")}},
		{"nested keys and values", `{"o":{"k1":{"k2":["s",{"k3":4}]},"e":{},"ea":[]}}`,
			[]visitCall{k("o"), v("o", "k1"), v("o", "k2"), v("o", "s"), v("o", "k3"), v("o", "4"), v("o", "e"), v("o", "ea")}},
		{"escapes decoded", `{"a\u0062":"\u00e9\n\"\\\/\ud83d\ude00"}`, []visitCall{k("ab"), v("ab", "é\n\"\\/😀")}},
		{"lone surrogate", `{"a":"x\ud800y"}`, []visitCall{k("a"), v("a", "x\ufffdy")}},
		{"invalid UTF-8 coerced", "{\"a\":\"x\xff\xfey\"}", []visitCall{k("a"), v("a", "x\ufffd\ufffdy")}},
		{"valid UTF-8 kept", `{"名":"José"}`, []visitCall{k("名"), v("名", "José")}},
		{"duplicate keys both seen", `{"a":"1","a":"2","o":{"d":"x","d":"y"}}`,
			[]visitCall{k("a"), v("a", "1"), k("a"), v("a", "2"), k("o"), v("o", "d"), v("o", "x"), v("o", "d"), v("o", "y")}},
		{"trailing bytes not read", `{"a":"x"} {"b":"y"}`, []visitCall{k("a"), v("a", "x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := record(walkValues, []byte(tt.raw), -1)
			if err != nil {
				t.Fatalf("walkValues: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %d calls, want %d, or they differ", len(got), len(tt.want))
			}
		})
	}
}

func TestWalkValuesStops(t *testing.T) {
	raw := []byte(`{"a":"x","b":{"c":["y","z"]},"d":"w"}`)
	for stop := 1; stop <= 6; stop++ {
		got, err := record(walkValues, raw, stop)
		want, werr := record(walkValuesReference, raw, stop)
		if err != nil || werr != nil {
			t.Fatalf("stop %d: errors %v, %v", stop, err, werr)
		}
		if !slices.Equal(got, want) {
			t.Errorf("stop %d: the walk differs from the reference", stop)
		}
	}
}

func TestWalkValuesRejectsMalformed(t *testing.T) {
	for _, raw := range []string{
		``, ` `, `[]`, `"a"`, `1`, `{`, `{"a"`, `{"a":`, `{"a":"x"`, `{"a":"x",}`, `{"a":"x"]`,
		`{]`, `{"a" "x"}`, `{"a":"x" "b":"y"}`, `{a:"x"}`, `{'a':"x"}`, `{"a":x}`, `{"a":tru}`,
		`{"a":nul}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":+1}`, `{"a":.5}`,
		`{"a":[1,]}`, `{"a":[1 2]}`, `{"a":{"b"}}`, `{"a":{"b":1,}}`, `{"a":{1:2}}`, `{"a":[}`,
		`{"a":{]}`, `{"a":"x\q"}`, `{"a":"x\u12"}`, "{\"a\":\"x\ty\"}", "{\"a\":\"x\x00\"}",
		`{"a":"x\`, `{"a":"x`, "\xef\xbb\xbf{}", `{"a":[[[[`, `{"a":1x}`, `{"a":truex}`,
	} {
		if _, err := record(walkValues, []byte(raw), -1); err == nil {
			t.Errorf("malformed input of %d bytes walked without error", len(raw))
		}
	}
}

// TestWalkValuesMatchesReference runs both walkers over the golden inputs
// and the fuzz corpus of the guard.
func TestWalkValuesMatchesReference(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatal("no test inputs")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkWalkAgainstReference(t, filepath.Base(f), raw)
	}
	seeds, err := filepath.Glob("testdata/fuzz/FuzzDeidentifyJSON/*")
	if err != nil || len(seeds) == 0 {
		t.Fatal("no fuzz corpus")
	}
	for _, f := range seeds {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data, ok := corpusBytes(raw)
		if !ok {
			t.Fatalf("%s: unreadable corpus entry", filepath.Base(f))
		}
		checkWalkAgainstReference(t, filepath.Base(f), data)
	}
}

// corpusBytes reads the []byte argument of a "go test fuzz v1" file.
func corpusBytes(file []byte) ([]byte, bool) {
	for line := range strings.Lines(string(file)) {
		line = strings.TrimSpace(line)
		if q, ok := strings.CutPrefix(line, "[]byte("); ok {
			s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
			return []byte(s), err == nil
		}
	}
	return nil, false
}

// checkWalkAgainstReference: walkValues accepts every valid JSON object,
// and whatever it accepts, the reference walker accepts and walks the same
// way, with and without early stops.
func checkWalkAgainstReference(t fataler, name string, raw []byte) {
	t.Helper()
	got, err := record(walkValues, raw, -1)
	if err != nil {
		if json.Valid(raw) && strings.HasPrefix(strings.TrimLeft(string(raw), " \t\r\n"), "{") {
			t.Fatalf("%s: valid JSON object rejected", name)
		}
		return
	}
	want, werr := record(walkValuesReference, raw, -1)
	if werr != nil {
		t.Fatalf("%s: accepted what the reference rejects", name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: the walk differs from the reference", name)
	}
	visits := 0
	for _, c := range got {
		if !c.key {
			visits++
		}
	}
	for stop := 1; stop <= visits; stop++ {
		g, _ := record(walkValues, raw, stop)
		w, _ := record(walkValuesReference, raw, stop)
		if !slices.Equal(g, w) {
			t.Fatalf("%s: the walk stopped after %d visits differs from the reference", name, stop)
		}
	}
}

// jsonText generates JSON-like text: mostly valid objects, with the
// spellings a hand-written reader gets wrong (escapes, surrogates, invalid
// UTF-8, numbers, whitespace), sometimes broken by one byte.
func jsonText() *rapid.Generator[[]byte] {
	str := rapid.OneOf(
		rapid.StringMatching(`[a-z_]{0,8}`),
		rapid.SampledFrom([]string{`\"`, `\\`, `\/`, `\b\f\n\r\t`, `\u00e9`, `\ud83d\ude00`, `\ud800`, `\udc00x`, `é`, "\xff", "\xc3", "\u2028", `\u0000`}),
		rapid.String(),
	)
	num := rapid.SampledFrom([]string{"0", "-0", "12", "-3.25", "1e9", "2E-3", "6.02e+23", "0.0"})
	var value func(depth int) *rapid.Generator[string]
	value = func(depth int) *rapid.Generator[string] {
		return rapid.Custom(func(t *rapid.T) string {
			ws := rapid.SampledFrom([]string{"", " ", "\n\t", "\r "}).Draw(t, "ws")
			choice := rapid.IntRange(0, 5).Draw(t, "kind")
			if depth >= 3 {
				choice %= 3
			}
			switch choice {
			case 0:
				return ws + `"` + strings.ReplaceAll(str.Draw(t, "s"), `"`, `\"`) + `"`
			case 1:
				return ws + num.Draw(t, "n")
			case 2:
				return ws + rapid.SampledFrom([]string{"true", "false", "null"}).Draw(t, "lit")
			case 3, 4:
				n := rapid.IntRange(0, 3).Draw(t, "members")
				parts := make([]string, n)
				for i := range parts {
					parts[i] = `"` + strings.ReplaceAll(str.Draw(t, "k"), `"`, `\"`) + `"` + ws + ":" + value(depth+1).Draw(t, "v")
				}
				return ws + "{" + strings.Join(parts, ",") + ws + "}"
			default:
				n := rapid.IntRange(0, 3).Draw(t, "elems")
				parts := make([]string, n)
				for i := range parts {
					parts[i] = value(depth+1).Draw(t, "e")
				}
				return ws + "[" + strings.Join(parts, ",") + "]"
			}
		})
	}
	return rapid.Custom(func(t *rapid.T) []byte {
		n := rapid.IntRange(0, 4).Draw(t, "top")
		parts := make([]string, n)
		for i := range parts {
			parts[i] = `"` + strings.ReplaceAll(str.Draw(t, "k"), `"`, `\"`) + `":` + value(1).Draw(t, "v")
		}
		b := []byte("{" + strings.Join(parts, ",") + "}")
		if rapid.IntRange(0, 3).Draw(t, "break") == 0 && len(b) > 0 {
			i := rapid.IntRange(0, len(b)-1).Draw(t, "at")
			switch rapid.IntRange(0, 2).Draw(t, "how") {
			case 0:
				b = b[:i]
			case 1:
				b = append(b[:i:i], b[i+1:]...)
			default:
				b[i] = rapid.Byte().Draw(t, "byte")
			}
		}
		return b
	})
}

func TestPropertyWalkValuesMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkWalkAgainstReference(t, "generated", jsonText().Draw(t, "json"))
	})
}

// FuzzWalkValues: the hand-written walker never accepts what the token
// walker rejects, walks what it accepts the same way, and accepts every
// valid JSON object.
func FuzzWalkValues(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":"x"}`, `{"a":{"b":[1,"c",{"d":null}]}}`, `{"a":"\ud83d\ude00\u00e9"}`,
		"{\"a\":\"\xff\"}", `{"a":-1.5e+3}`, `{"a":"x",}`, `{"a":1`, `{"a":"x"} junk`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkWalkAgainstReference(t, "fuzzed", raw)
	})
}
