package redrive

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/novamed/bridge/pkg/phi"
)

// SSMAPI is the part of the SSM client LoadGuard uses. *ssm.Client
// implements it.
type SSMAPI interface {
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

// Names of the parameters LoadGuard reads under the prefix (docs/contract.md,
// "Configuration").
const (
	ParamPseudonymKey = "pseudonym-key"
	ParamClinicID     = "clinic-id"
)

// ErrParameter: a parameter LoadGuard needs is missing or unusable. The
// error names the parameter, never its value.
var ErrParameter = errors.New("redrive: parameter")

// LoadGuard builds the environment guard Peek uses from the parameters
// under prefix: the development pseudonym key (SecureString, 32 random bytes
// in base64, decoded as dispatch decodes it) and the clinic id.
// The guard and its errors never print the key.
func LoadGuard(ctx context.Context, api SSMAPI, prefix string) (*phi.Guard, error) {
	prefix = strings.TrimRight(prefix, "/")
	if !strings.HasPrefix(prefix, "/") {
		return nil, fmt.Errorf("%w: --param-prefix must start with /", ErrUsage)
	}
	keyName, clinicName := prefix+"/"+ParamPseudonymKey, prefix+"/"+ParamClinicID
	out, err := api.GetParameters(ctx, &ssm.GetParametersInput{
		Names:          []string{keyName, clinicName},
		WithDecryption: aws.Bool(true),
	})
	if err != nil {
		return nil, awsErr("GetParameters", err)
	}
	values := map[string]string{}
	for _, p := range out.Parameters {
		values[aws.ToString(p.Name)] = aws.ToString(p.Value)
	}
	for _, name := range []string{keyName, clinicName} {
		if _, ok := values[name]; !ok {
			return nil, fmt.Errorf("%w %s: not found", ErrParameter, name)
		}
	}
	key, err := phi.ParsePseudonymKey(values[keyName])
	if err != nil {
		return nil, fmt.Errorf("%w %s: not base64 of at least %d bytes", ErrParameter, keyName, phi.MinKeyLen)
	}
	p, err := phi.NewHMACPseudonymizer(key)
	if err != nil {
		return nil, fmt.Errorf("%w %s: shorter than %d bytes", ErrParameter, keyName, phi.MinKeyLen)
	}
	g, err := phi.New(p, strings.TrimSpace(values[clinicName]))
	if err != nil {
		return nil, fmt.Errorf("%w %s: not a UUID", ErrParameter, clinicName)
	}
	return g, nil
}
