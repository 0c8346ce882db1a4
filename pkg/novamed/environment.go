package novamed

// NovaMed's hosts, from the partner documentation (edition 1.0.0).
const (
	DevelopmentURL  = "https://novamed-feapidev.stackmod.info"
	ProductionURL   = "https://feapi.novamed.care"
	DevelopmentHost = "novamed-feapidev.stackmod.info"
	ProductionHost  = "feapi.novamed.care"
)

// Paths of the partner API endpoints.
const (
	PatientPath      = "/api/external/patient"
	PractitionerPath = "/api/external/practitioner"
)
