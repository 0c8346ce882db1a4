package devstack

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkBinarySize builds the Lambda binaries as `make build` does
// (stripped, arm64, lambda.norpc) beside hellofn built the same way and
// reports their sizes (MiB) and the ratio to hello-world. With -v it logs
// each binary's code and read-only data per dependency, from `go tool nm
// -size` of the same build unstripped (symbols the linker attributes to no
// package, such as pclntab and type data, are not in the breakdown).
//
// go test -run '^$' -bench BinarySize -benchtime 1x -v ./pkg/devstack
func BenchmarkBinarySize(b *testing.B) {
	dir := b.TempDir()
	build := func(name, pkg string, strip bool) string {
		out := filepath.Join(dir, name)
		args := []string{"build", "-trimpath", "-tags", "lambda.norpc", "-o", out}
		if strip {
			args = append(args, "-ldflags", "-s -w")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v\n%s", pkg, err, o)
		}
		return out
	}
	size := func(path string) float64 {
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		return float64(fi.Size()) / (1 << 20)
	}
	var sizes [3]float64
	for range b.N {
		sizes[0] = size(build("hello", "./testdata/hellofn", true))
		sizes[1] = size(build("intake", intakePackage, true))
		sizes[2] = size(build("dispatch", dispatchPackage, true))
	}
	b.ReportMetric(sizes[0], "hello-MiB")
	b.ReportMetric(sizes[1], "intake-MiB")
	b.ReportMetric(sizes[2], "dispatch-MiB")
	b.ReportMetric(sizes[1]/sizes[0], "intake-x-hello")
	b.ReportMetric(sizes[2]/sizes[0], "dispatch-x-hello")
	if !testing.Verbose() {
		return
	}
	for _, f := range []struct{ name, pkg string }{{"hello", "./testdata/hellofn"}, {"intake", intakePackage}, {"dispatch", dispatchPackage}} {
		out, err := exec.CommandContext(context.Background(), "go", "tool", "nm", "-size", build(f.name+".syms", f.pkg, false)).Output()
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: code and read-only data by dependency\n%s", f.name, bySizeGroup(out))
	}
}

// sizeGroups are the rows of the breakdown, most specific first.
var sizeGroups = []string{
	"github.com/aws/aws-sdk-go-v2/service/ssm", "github.com/aws/aws-sdk-go-v2/service/dynamodb",
	"github.com/aws/aws-sdk-go-v2/service/sqs", "github.com/aws/aws-sdk-go-v2/service/internal",
	// config.LoadDefaultConfig's credential chain, which the functions no
	// longer link (awsclients.FromEnv)
	"github.com/aws/aws-sdk-go-v2/service/sts", "github.com/aws/aws-sdk-go-v2/service/signin",
	"github.com/aws/aws-sdk-go-v2/service/ssooidc", "github.com/aws/aws-sdk-go-v2/service/sso",
	"github.com/aws/aws-sdk-go-v2/config", "github.com/aws/aws-sdk-go-v2/feature/ec2/imds",
	"github.com/aws/aws-sdk-go-v2/service/", "github.com/aws/aws-sdk-go-v2/credentials",
	"github.com/aws/aws-sdk-go-v2/", "github.com/aws/smithy-go", "github.com/aws/aws-lambda-go",
	"github.com/novamed/bridge", "golang.org/x/", "crypto/", "net/", "encoding/", "regexp", "runtime",
}

// bySizeGroup sums the sizes of text and read-only symbols (nm types T, t,
// R, r) of `go tool nm -size` output by sizeGroups, the rest of the
// standard library and anything else.
func bySizeGroup(nm []byte) string {
	sums := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(nm))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.Contains("TtRr", f[2]) {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		sums[sizeGroup(strings.Join(f[3:], " "))] += n
	}
	keys := make([]string, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return int(sums[b] - sums[a]) })
	var w strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&w, "%8.2f MiB  %s\n", float64(sums[k])/(1<<20), k)
	}
	return w.String()
}

func sizeGroup(symbol string) string {
	for _, p := range []string{"type:.eq.", "type:", "go:itab.*", "go:itab.", "go:"} {
		symbol = strings.TrimPrefix(symbol, p)
	}
	pkg := symbol
	end := len(symbol)
	if i := strings.IndexAny(symbol, "(["); i >= 0 {
		end = i
	}
	if slash := strings.LastIndex(symbol[:end], "/"); true {
		if dot := strings.Index(symbol[slash+1:], "."); dot >= 0 {
			pkg = symbol[:slash+1+dot]
		}
	}
	for _, g := range sizeGroups {
		if strings.HasPrefix(pkg, g) {
			return g
		}
	}
	if first, _, _ := strings.Cut(pkg, "/"); !strings.Contains(first, ".") {
		return "other standard library"
	}
	return "other"
}
