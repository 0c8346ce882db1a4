// Command smart-keygen makes the key pair the bridge signs SMART Backend
// Services client assertions with (see docs/operations.md, "Registering the
// bridge as a SMART backend service").
//
//	smart-keygen [-alg ES384|RS384] [-kid ID] [-private FILE -jwks FILE]
//
// Without -private and -jwks it prints one JSON object to stdout:
//
//	{
//	  "private_key": {...},   secret: goes, as is, into the source
//	                          definition's fhir_server.private_key
//	  "jwks": {"keys": [...]} public: register it (or host it) with the EHR
//	}
//
// With -private and -jwks it writes the private JWK (mode 0600) and the
// JWKS to those files instead and prints nothing secret; it never
// overwrites a file. ES384 (EC P-384) is the default; RS384 makes a
// 3072-bit RSA key. The kid defaults to the key's RFC 7638 thumbprint.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/novamed/bridge/pkg/smart"
	"github.com/novamed/bridge/pkg/source"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "smart-keygen:", err)
		os.Exit(2)
	}
}

// output is what stdout gets without -private and -jwks.
type output struct {
	PrivateKey json.RawMessage `json:"private_key"`
	JWKS       json.RawMessage `json:"jwks"`
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("smart-keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alg := fs.String("alg", source.AlgES384, "signing `algorithm`: ES384 (EC P-384) or RS384 (RSA 3072)")
	kid := fs.String("kid", "", "key `id` (default: the key's RFC 7638 thumbprint)")
	privPath := fs.String("private", "", "write the private JWK to `file` (mode 0600, never overwritten)")
	jwksPath := fs.String("jwks", "", "write the public JWKS to `file` (never overwritten)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("unexpected arguments")
	}
	if (*privPath == "") != (*jwksPath == "") {
		return errors.New("-private and -jwks go together")
	}
	if *alg != source.AlgES384 && *alg != source.AlgRS384 {
		return errors.New("-alg must be ES384 or RS384")
	}
	key, err := smart.GenerateKey(*alg, *kid)
	if err != nil {
		return err
	}
	priv, err := key.MarshalJSON()
	if err != nil {
		return errors.New("encode the private key")
	}
	jwks, err := json.Marshal(smart.PublicJWKS(key))
	if err != nil {
		return errors.New("encode the JWKS")
	}

	if *privPath != "" {
		for _, p := range []string{*privPath, *jwksPath} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s exists: not overwritten", p)
			}
		}
		if err := writeNew(*privPath, priv, 0o600); err != nil {
			return err
		}
		if err := writeNew(*jwksPath, jwks, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote the private JWK (kid %s, %s) to %s and the JWKS to %s\n", key.KeyID, *alg, *privPath, *jwksPath)
		return nil
	}
	out, err := json.MarshalIndent(output{PrivateKey: priv, JWKS: jwks}, "", "  ")
	if err != nil {
		return errors.New("encode the output")
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

// writeNew writes data to a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, errors.Unwrap(err))
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
