package stackcheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logKeys collects the attribute keys the code logs with (slog.String("key",
// ...) and the like, tests excluded), plus slog's own time, level and msg.
func logKeys(t *testing.T) map[string]bool {
	t.Helper()
	attr := regexp.MustCompile(`slog\.[A-Za-z0-9]+\("([a-z_]+)"`)
	keys := map[string]bool{"time": true, "level": true, "msg": true}
	for _, dir := range []string{"../../functions", "../../pkg"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range attr.FindAllStringSubmatch(string(data), -1) {
				keys[m[1]] = true
			}
			return nil
		})
		require.NoError(t, err)
	}
	return keys
}

// insightsWords are the Logs Insights commands, functions and keywords the
// saved queries use: not log fields.
var insightsWords = map[string]bool{
	"fields": true, "filter": true, "stats": true, "sort": true, "limit": true, "by": true, "as": true,
	"and": true, "or": true, "not": true, "desc": true, "asc": true, "count": true, "ispresent": true,
	"earliest": true, "latest": true, "bin": true, "avg": true, "pct": true, "sum": true, "min": true, "max": true,
}

// queryFields returns the log fields a Logs Insights query reads: words
// outside string literals that are not @fields, keywords or the query's
// own aliases (`as name`).
func queryFields(query string) []string {
	query = regexp.MustCompile(`"[^"]*"`).ReplaceAllString(query, `""`)
	aliases := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bas ([a-z_][a-z0-9_]*)`).FindAllStringSubmatch(query, -1) {
		aliases[m[1]] = true
	}
	var out []string
	for _, loc := range regexp.MustCompile(`@?\b[a-z_][a-z0-9_]*\b`).FindAllStringIndex(query, -1) {
		w := query[loc[0]:loc[1]]
		if strings.HasPrefix(w, "@") || insightsWords[w] || aliases[w] {
			continue
		}
		out = append(out, w)
	}
	return out
}

func TestQueryFieldsReadsFieldsOnly(t *testing.T) {
	got := queryFields("fields @timestamp, source\n| filter status = 401 and msg = \"in take\"\n| stats count(*) as refused by source, bin(1h)\n| sort refused desc")
	assert.Equal(t, []string{"source", "status", "msg", "source"}, got)
}

// TestSavedQueriesReadFieldsTheCodeLogs: a renamed log attribute would
// leave a saved query silently empty; every field a query reads is a key
// the code logs with.
func TestSavedQueriesReadFieldsTheCodeLogs(t *testing.T) {
	tpl := loadTemplate(t)
	keys := logKeys(t)
	require.True(t, keys["error_code"] && keys["latency_ms"], "the scan finds the functions' attributes")
	n := 0
	for id, r := range at(t, tpl, "Resources").(map[string]any) {
		if r.(map[string]any)["Type"] != "AWS::Logs::QueryDefinition" {
			continue
		}
		n++
		for _, f := range queryFields(at(t, r, "Properties", "QueryString").(string)) {
			assert.Truef(t, keys[f], "%s reads %q, which no code logs", id, f)
		}
	}
	assert.Positive(t, n)
}
