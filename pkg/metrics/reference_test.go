package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// referenceSlug is the dimension-value rule as first written, a regexp.
var referenceSlug = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// referenceLine is the EMF line as first written: a map marshalled by
// encoding/json. emit must write exactly these bytes.
func referenceLine(base map[string]string, now time.Time, name string, value float64, unit string, dims []string) []byte {
	sanitize := func(v string) string {
		if referenceSlug.MatchString(v) {
			return v
		}
		return "other"
	}
	line := map[string]any{}
	var keys []string
	for k, v := range base {
		line[k] = sanitize(v)
		keys = append(keys, k)
	}
	for i := 0; i+1 < len(dims); i += 2 {
		line[dims[i]] = sanitize(dims[i+1])
		keys = append(keys, dims[i])
	}
	sort.Strings(keys)
	if keys == nil {
		keys = []string{} // an empty dimension set is [], not null
	}
	line[name] = value
	line["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": [][]string{keys},
			"Metrics":    []any{map[string]string{"Name": name, "Unit": unit}},
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return nil
	}
	return append(b, '\n')
}

// text draws keys and values: slugs, near-slugs, the names the bridge
// uses, and strings encoding/json must escape.
func text() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.StringMatching(`[a-z0-9][a-z0-9_.\-]{0,70}`),
		rapid.StringMatching(`[A-Za-z_.\-]{0,12}`),
		rapid.SampledFrom([]string{"", "Stage", "Reason", "Class", "_aws", "Accepted", "prod", "dev", "a\n", "a<b>&c", `q"uote\`, "\u2028", "é", "\xff", "\x00", "\x7f", "-a", "a-"}),
		rapid.String(),
	)
}

func TestPropertyLineMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := rapid.MapOfN(text(), text(), 0, 3).Draw(t, "base")
		if rapid.Bool().Draw(t, "nil base") {
			base = nil
		}
		dims := rapid.SliceOfN(text(), 0, 7).Draw(t, "dims")
		name := text().Draw(t, "name")
		unit := rapid.SampledFrom([]string{UnitCount, UnitMilliseconds, "x<y"}).Draw(t, "unit")
		value := rapid.OneOf(
			rapid.Float64(),
			rapid.Map(rapid.IntRange(-1000, 100000), func(n int) float64 { return float64(n) }),
			rapid.Map(rapid.Int64(), func(us int64) float64 { return float64(time.Duration(us).Microseconds()) / 1000 }),
			rapid.SampledFrom([]float64{0, math.Copysign(0, -1), 1e-6, 9.99e-7, 1e20, 1e21, -1e21, 1.5e-9, math.SmallestNonzeroFloat64, math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1)}),
		).Draw(t, "value")
		now := time.UnixMilli(rapid.Int64Range(-1e15, 1e15).Draw(t, "ms"))

		var buf bytes.Buffer
		r := New(&buf, base)
		r.now = func() time.Time { return now }
		r.emit(name, value, unit, dims)
		if want := referenceLine(base, now, name, value, unit, dims); !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("line differs from the map-marshalled reference (%d bytes, want %d)", buf.Len(), len(want))
		}
	})
}

func TestSlugMatchesTheRule(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.OneOf(text(), rapid.StringMatching(`[a-z0-9_.\-]{0,66}\n?`)).Draw(t, "v")
		if isSlug(v) != referenceSlug.MatchString(v) {
			t.Fatalf("isSlug disagrees with the rule for a value of %d bytes", len(v))
		}
	})
}

// emit's cost matters: intake writes two lines per request.
func BenchmarkCount(b *testing.B) {
	r := New(discard{}, map[string]string{"Stage": "dev"})
	b.ReportAllocs()
	for b.Loop() {
		r.Count("Rejected", 1, "Reason", "bad_signature")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
