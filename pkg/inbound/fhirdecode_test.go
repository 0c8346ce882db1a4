package inbound

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFastDecoderKeysMatchTags: each key list of the fast decoder is its
// struct's json tags in field order, so a field added to a struct and not
// to the decoder fails here (and the differential tests below).
func TestFastDecoderKeysMatchTags(t *testing.T) {
	for _, c := range []struct {
		typ  reflect.Type
		keys []string
	}{
		{reflect.TypeFor[resource](), resourceKeys},
		{reflect.TypeFor[extension](), extensionKeys},
		{reflect.TypeFor[entry](), entryKeys},
		{reflect.TypeFor[entry]().Field(2).Type, entryRequestKeys},
		{reflect.TypeFor[entry]().Field(3).Type, entrySearchKeys},
		{reflect.TypeFor[period](), periodKeys},
		{reflect.TypeFor[humanName](), humanNameKeys},
		{reflect.TypeFor[contactPoint](), contactPointKeys},
		{reflect.TypeFor[address](), addressKeys},
		{reflect.TypeFor[identifier](), identifierKeys},
		{reflect.TypeFor[codeableConcept](), codeableConceptKeys},
		{reflect.TypeFor[coding](), codingKeys},
		{reflect.TypeFor[qualification](), qualificationKeys},
		{reflect.TypeFor[reference](), referenceKeys},
		{reflect.TypeFor[notificationEvent](), notificationEventKeys},
		{reflect.TypeFor[parameter](), parameterKeys},
	} {
		var tags []string
		for i := range c.typ.NumField() {
			tags = append(tags, c.typ.Field(i).Tag.Get("json"))
		}
		assert.Equal(t, tags, c.keys, c.typ.String())
		assert.Less(t, len(c.keys), 64, "the seen set is a uint64")
	}
}

// checkDecodeResource decodes data with encoding/json and with
// decodeResource and requires the same resource and the same error. It
// reports whether the fast path took the data.
func checkDecodeResource(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	if checkDepth(data) != nil {
		return false // Parse refuses it before any decoding
	}
	var want, got resource
	wantErr := json.Unmarshal(data, &want)
	gotErr := decodeResource(data, &got)
	require.Equal(t, want, got)
	if wantErr == nil {
		require.NoError(t, gotErr)
	} else {
		require.EqualError(t, gotErr, wantErr.Error())
	}
	var fastR resource
	d := fastDecoder{data: data}
	d.space()
	fast = d.resource(&fastR) && d.atEnd()
	if fast {
		require.NoError(t, wantErr, "the fast path took data encoding/json refuses")
		require.Equal(t, want, fastR)
	}
	// Bundle entries are decoded the same way, one by one.
	for _, e := range want.Entry {
		if len(e.Resource) > 0 {
			checkDecodeResource(t, e.Resource)
		}
	}
	return fast
}

// decodeCorpus is every FHIR body of the package's test data and fuzz
// corpus.
func decodeCorpus(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, pattern := range []string{"testdata/fhir/*.json", "testdata/real/*/*.json"} {
		files, err := filepath.Glob(pattern)
		require.NoError(t, err)
		for _, f := range files {
			if strings.HasSuffix(f, ".golden.json") {
				continue
			}
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			out[f] = b
		}
	}
	files, err := filepath.Glob("testdata/fuzz/FuzzParse/*")
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if q, ok := strings.CutPrefix(line, "[]byte("); ok {
				v, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
				require.NoError(t, err, f)
				out[f] = []byte(v)
			}
		}
	}
	return out
}

func TestDecodeResourceMatchesEncodingJSON(t *testing.T) {
	for name, data := range decodeCorpus(t) {
		t.Run(name, func(t *testing.T) {
			data = bytes.TrimPrefix(data, utf8BOM)
			fast := checkDecodeResource(t, data)
			if !strings.Contains(name, "fuzz") && json.Unmarshal(data, new(resource)) == nil {
				// The samples are what senders send: those without a
				// shape error (Bundle.identifier is one Identifier, not
				// a list: a type error, left to encoding/json) must not
				// need the slow path.
				assert.True(t, fast, "the fast path abandoned a sample")
			}
		})
	}
}

// decodeEdgeCases are the inputs where encoding/json's rules are subtle:
// each must come out as encoding/json decodes it, whichever path takes it.
var decodeEdgeCases = []string{
	`{}`, ` {} `, `null`, `[]`, `"Patient"`, `{"resourceType":"Patient"} x`, `{"resourceType":"Patient"`,
	`{"resourceType":"Patient","resourceType":"Practitioner"}`,
	`{"ResourceType":"Patient"}`, `{"RESOURCETYPE":"Patient","resourceType":"Practitioner"}`,
	`{"resourceType":"Patient","ResourceType":"Practitioner"}`,
	"{\"re\u017FourceType\":\"Patient\"}", "{\"resource\\u0054ype\":\"Patient\"}",
	`{"name":[{"family":"A"}],"name":[{"given":["B"]}]}`,
	`{"name":[{"period":{"end":"2000"}}],"name":[{"period":{}}]}`,
	`{"name":null}`, `{"name":[]}`, `{"name":[null,{"family":"A"}]}`, `{"name":"Ada"}`,
	`{"name":[{"family":1,"given":"x","text":{"a":[1]}}]}`, `{"name":[{"given":[1,null,"A",{"b":2},["c"]]}]}`,
	`{"name":[{"given":null}]}`, `{"name":[{"given":[]}]}`, `{"name":[1]}`, `{"name":[{"period":"x"}]}`,
	`{"name":[{"period":null,"use":null}]}`, `{"telecom":[{"value":"a\"b\\c\u00e9\ud83d\ude00"}]}`,
	"{\"telecom\":[{\"value\":\"\xff\xfe\"}]}", "{\"telecom\":[{\"value\":\"\\u00e9\xff\"}]}",
	`{"telecom":[{"value":"\ud800"}]}`, `{"telecom":[{"value":"\x"}]}`, "{\"telecom\":[{\"value\":\"a\tb\"}]}",
	`{"deceasedBoolean":true,"deceasedDateTime":null,"subject":[{"reference":"Patient/1"}]}`,
	`{"deceasedBoolean":  true  ,"subject":{ "reference" : "Patient/1" } }`,
	`{"identifier":[{"type":{"coding":[{"system":"s","code":"MD"}]},"value":"1"}],"identifier":null}`,
	`{"identifier":[{"type":null}],"qualification":[{"identifier":[{"value":"2"}]}]}`,
	`{"identifier":[{"type":[]}]}`, `{"qualification":{"identifier":[]}}`,
	`{"entry":[{"fullUrl":"u","resource":{"resourceType":"Patient"},"request":{"method":"POST"},"search":{"mode":"match"}}]}`,
	`{"entry":[{"request":null,"search":null,"resource":null}]}`, `{"entry":[{"request":"POST"}]}`,
	`{"parameter":[{"name":"n","valueString":1,"valueInteger":"2","part":[{"name":"p","valueInteger64":-1.5e3}]}]}`,
	`{"parameter":[{"valueReference":{"reference":"r"},"valuePositiveInt":true}]}`,
	`{"subscription":{"reference":"s"},"notificationEvent":[{"eventNumber":"3","focus":{"reference":"f"}}]}`,
	`{"subscription":"s"}`, `{"notificationEvent":[{"eventNumber":[1]}]}`,
	`{"focus":[{"reference":"a"},{"reference":"b"}],"extension":[{"url":"x","valueString":"y"}]}`,
	`{"unknown":{"deep":[1,2,{"x":null}],"e":1e5,"f":-0.5,"g":false}}`, `{"unknown":01}`, `{"unknown":1.}`,
	`{"unknown":-}`, `{"unknown":tru}`, `{"unknown":[1,]}`, `{"unknown":{"a":1,}}`, `{,}`, `{"a" 1}`,
	`{"gender":"female","birthDate":"1985-12-10","gender":"male"}`, "{\"\xff\":1}", "{\"caf\u00e9\":1}",
}

func TestDecodeResourceEdgeCases(t *testing.T) {
	for _, c := range decodeEdgeCases {
		t.Run(c, func(t *testing.T) { checkDecodeResource(t, []byte(c)) })
	}
}

func FuzzDecodeResource(f *testing.F) {
	for _, data := range decodeCorpus(f) {
		f.Add(data)
	}
	for _, c := range decodeEdgeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeResource(t, data) })
}

func BenchmarkDecodeResource(b *testing.B) {
	data, err := os.ReadFile("testdata/fhir/patient.json")
	require.NoError(b, err)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r resource
			_ = decodeResource(data, &r)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r resource
			_ = json.Unmarshal(data, &r)
		}
	})
}

// intern gives the same string as a conversion, without an allocation for
// the codes it knows.
func TestIntern(t *testing.T) {
	for _, s := range []string{"official", "home", "Patient", "US", "Official", "", "Lovelace"} {
		assert.Equal(t, s, intern([]byte(s)))
	}
	b := []byte("official")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = intern(b) }))
}
