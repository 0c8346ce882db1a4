package stackcheck

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMakeBuildProducesWhatLambdaRuns runs the targets `sam build` calls
// (BuildMethod: makefile) and checks each artifact is what provided.al2023
// on arm64 runs: a file named bootstrap, an arm64 ELF executable, statically
// linked (no interpreter), stripped.
func TestMakeBuildProducesWhatLambdaRuns(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	for _, target := range []string{"build-IntakeFunction", "build-DispatchFunction"} {
		t.Run(target, func(t *testing.T) {
			dir := t.TempDir()
			out, err := exec.Command("make", "-C", root, target, "ARTIFACTS_DIR="+dir).CombinedOutput()
			require.NoError(t, err, string(out))

			f, err := elf.Open(filepath.Join(dir, "bootstrap"))
			require.NoError(t, err)
			defer f.Close()
			assert.Equal(t, elf.EM_AARCH64, f.Machine, "arm64")
			assert.Equal(t, elf.ET_EXEC, f.Type, "an executable")
			for _, p := range f.Progs {
				assert.NotEqual(t, elf.PT_INTERP, p.Type, "statically linked: no dynamic loader")
			}
			assert.Nil(t, f.Section(".symtab"), "stripped (-s -w)")
		})
	}
}
