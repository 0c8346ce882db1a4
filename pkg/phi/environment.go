package phi

import (
	"net/url"
	"strconv"

	"github.com/novamed/bridge/pkg/novamed"
)

// Environment says whether a delivery target may receive PHI.
//
// Its zero value is NonProduction, so a forgotten assignment de-identifies.
type Environment int

const (
	// NonProduction targets receive de-identified records only.
	NonProduction Environment = iota
	// Production is NovaMed's production API under STAGE=prod: the only
	// target that receives PHI.
	Production
)

// ProductionStage is the only STAGE value under which PHI may leave the bridge.
const ProductionStage = "prod"

// String returns "production" or "non-production". Values outside the two
// constants are not Production (see AllowsPHI) and print as such.
func (e Environment) String() string {
	switch e {
	case Production:
		return "production"
	case NonProduction:
		return "non-production"
	default:
		return "non-production(" + strconv.Itoa(int(e)) + ")"
	}
}

// AllowsPHI reports whether records bound for e may carry PHI.
func (e Environment) AllowsPHI() bool { return e == Production }

// Resolve decides the environment of a delivery: Production only when stage
// is exactly "prod" and targetURL is https on NovaMed's production host
// exactly (port empty or 443, no user information). Every other combination
// — an empty, padded or differently cased stage, another host, a look-alike
// host, a trailing dot, plain http, an unparsable URL — is NonProduction.
//
// A production host under a non-production stage is NonProduction too: a dev
// deployment mistakenly configured with production's URL still sends no PHI.
func Resolve(stage, targetURL string) Environment {
	if stage != ProductionStage {
		return NonProduction
	}
	u, err := url.Parse(targetURL)
	if err != nil {
		return NonProduction
	}
	// url.Parse lower-cases the scheme; the host is compared byte for byte
	// (a Host with a trailing dot, a port we do not expect or an IDN
	// look-alike is simply a different string).
	if u.Scheme != "https" || u.User != nil || u.Opaque != "" {
		return NonProduction
	}
	if u.Host != novamed.ProductionHost && u.Host != novamed.ProductionHost+":443" {
		return NonProduction
	}
	return Production
}
