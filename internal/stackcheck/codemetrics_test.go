package stackcheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// emitted is what the code emits through pkg/metrics: for each metric name,
// every dimension-key set it is emitted with (sorted, the base dimension
// Stage included).
type emitted map[string][][]string

// has reports whether name is emitted with exactly the keys (order free).
func (e emitted) has(name string, keys ...string) bool {
	want := append([]string(nil), keys...)
	sort.Strings(want)
	for _, set := range e[name] {
		if strings.Join(set, ",") == strings.Join(want, ",") {
			return true
		}
	}
	return false
}

// keys is every dimension key name is emitted with, in any set.
func (e emitted) keys(name string) map[string]bool {
	out := map[string]bool{}
	for _, set := range e[name] {
		for _, k := range set {
			out[k] = true
		}
	}
	return out
}

// codeMetrics reads the Go sources (tests excluded) under functions/, pkg/
// and cmd/ and collects every `.Count(name, n, dims...)` and
// `.Duration(name, d, dims...)` call whose name and dimension keys are
// string literals or string constants. Every recorder is built with the
// base dimension Stage (functions' main.go), so Stage is added to each set.
func codeMetrics(t *testing.T) emitted {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	consts := map[string]string{} // constant name -> value, across packages
	for _, dir := range []string{"../../functions", "../../pkg", "../../cmd"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			files = append(files, f)
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if s, ok := stringLit(vs.Values[i]); ok {
								consts[n.Name] = s
							}
						}
					}
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
	resolve := func(e ast.Expr) (string, bool) {
		if s, ok := stringLit(e); ok {
			return s, true
		}
		switch e := e.(type) {
		case *ast.Ident:
			s, ok := consts[e.Name]
			return s, ok
		case *ast.SelectorExpr:
			s, ok := consts[e.Sel.Name]
			return s, ok
		}
		return "", false
	}
	out := emitted{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 || call.Ellipsis.IsValid() {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Count" && sel.Sel.Name != "Duration") {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "slog" {
				return true // slog.Duration(key, d) is a log attribute
			}
			name, ok := resolve(call.Args[0])
			if !ok {
				return true
			}
			keys := []string{"Stage"}
			for i := 2; i < len(call.Args); i += 2 {
				k, ok := resolve(call.Args[i])
				if !ok {
					return true
				}
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out[name] = append(out[name], keys)
			return true
		})
	}
	return out
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
