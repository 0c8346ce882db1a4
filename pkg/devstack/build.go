package devstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// The packages the local stack builds. Paths are module-relative so the build
// works from any directory inside the module.
const (
	rieTool         = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	intakePackage   = "github.com/novamed/bridge/functions/intake"
	dispatchPackage = "github.com/novamed/bridge/functions/dispatch"
)

// Binaries are the paths of what Build produced.
type Binaries struct {
	RIE, Intake, Dispatch string
}

// Build compiles the emulator and both functions into dir, for this machine's
// operating system and architecture (Lambda itself runs linux/arm64; `make
// build` makes those), with the
// same flags as the Lambda build. Progress lines go to progress.
func Build(ctx context.Context, dir string, progress io.Writer) (Binaries, error) {
	b := Binaries{
		RIE:      filepath.Join(dir, "aws-lambda-rie"),
		Intake:   filepath.Join(dir, "intake", "bootstrap"),
		Dispatch: filepath.Join(dir, "dispatch", "bootstrap"),
	}
	steps := []struct{ what, out, pkg string }{
		{"the Lambda Runtime Interface Emulator", b.RIE, rieTool},
		{"the intake function", b.Intake, intakePackage},
		{"the dispatch function", b.Dispatch, dispatchPackage},
	}
	for _, s := range steps {
		fmt.Fprintf(progress, "building %s...\n", s.what)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", s.out, s.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
		cmd.Stdout = progress
		cmd.Stderr = progress
		if err := cmd.Run(); err != nil {
			return Binaries{}, fmt.Errorf("devstack: build %s: %w", s.what, err)
		}
	}
	return b, nil
}
