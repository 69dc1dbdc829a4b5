package fhirr4

// Resource is implemented by every resource struct (through Base).
type Resource interface {
	ResourceType() string
	ResourceID() string
}

// Base holds the members every resource has.
type Base struct {
	Type      string      `json:"resourceType"`
	ID        string      `json:"id,omitempty"`
	Meta      *Meta       `json:"meta,omitempty"`
	Extension []Extension `json:"extension,omitempty"`
}

// ResourceType returns the FHIR resource type.
func (b *Base) ResourceType() string { return b.Type }

// ResourceID returns the logical id.
func (b *Base) ResourceID() string { return b.ID }

// Patient is a FHIR Patient.
type Patient struct {
	Base
	Identifier           []Identifier     `json:"identifier,omitempty"`
	Active               *bool            `json:"active,omitempty"`
	Name                 []HumanName      `json:"name,omitempty"`
	Telecom              []ContactPoint   `json:"telecom,omitempty"`
	Gender               string           `json:"gender,omitempty"`
	BirthDate            string           `json:"birthDate,omitempty"`
	DeceasedBoolean      *bool            `json:"deceasedBoolean,omitempty"`
	DeceasedDateTime     string           `json:"deceasedDateTime,omitempty"`
	Address              []Address        `json:"address,omitempty"`
	MaritalStatus        *CodeableConcept `json:"maritalStatus,omitempty"`
	MultipleBirthBoolean *bool            `json:"multipleBirthBoolean,omitempty"`
	MultipleBirthInteger *int             `json:"multipleBirthInteger,omitempty"`
	Contact              []PatientContact `json:"contact,omitempty"`
	Communication        []Communication  `json:"communication,omitempty"`
	GeneralPractitioner  []Reference      `json:"generalPractitioner,omitempty"`
	Link                 []PatientLink    `json:"link,omitempty"`
}

// PatientContact is Patient.contact.
type PatientContact struct {
	Relationship []CodeableConcept `json:"relationship,omitempty"`
	Name         *HumanName        `json:"name,omitempty"`
	Telecom      []ContactPoint    `json:"telecom,omitempty"`
	Address      *Address          `json:"address,omitempty"`
	Gender       string            `json:"gender,omitempty"`
	Period       *Period           `json:"period,omitempty"`
}

// Communication is Patient.communication.
type Communication struct {
	Language CodeableConcept `json:"language"`
}

// PatientLink is Patient.link.
type PatientLink struct {
	Other Reference `json:"other"`
	Type  string    `json:"type"`
}

// Encounter is a FHIR Encounter.
type Encounter struct {
	Base
	Identifier      []Identifier           `json:"identifier,omitempty"`
	Status          string                 `json:"status"`
	Class           Coding                 `json:"class"`
	Type            []CodeableConcept      `json:"type,omitempty"`
	ServiceType     *CodeableConcept       `json:"serviceType,omitempty"`
	Priority        *CodeableConcept       `json:"priority,omitempty"`
	Subject         *Reference             `json:"subject,omitempty"`
	Participant     []EncounterParticipant `json:"participant,omitempty"`
	Period          *Period                `json:"period,omitempty"`
	ReasonCode      []CodeableConcept      `json:"reasonCode,omitempty"`
	Hospitalization *Hospitalization       `json:"hospitalization,omitempty"`
	Location        []EncounterLocation    `json:"location,omitempty"`
}

// EncounterParticipant is Encounter.participant.
type EncounterParticipant struct {
	Type       []CodeableConcept `json:"type,omitempty"`
	Individual *Reference        `json:"individual,omitempty"`
}

// Hospitalization is Encounter.hospitalization.
type Hospitalization struct {
	PreAdmissionIdentifier *Identifier       `json:"preAdmissionIdentifier,omitempty"`
	AdmitSource            *CodeableConcept  `json:"admitSource,omitempty"`
	ReAdmission            *CodeableConcept  `json:"reAdmission,omitempty"`
	DietPreference         []CodeableConcept `json:"dietPreference,omitempty"`
	DischargeDisposition   *CodeableConcept  `json:"dischargeDisposition,omitempty"`
}

// EncounterLocation is Encounter.location.
type EncounterLocation struct {
	Location Reference `json:"location"`
	Status   string    `json:"status,omitempty"`
}

// Observation is a FHIR Observation.
type Observation struct {
	Base
	Identifier           []Identifier           `json:"identifier,omitempty"`
	BasedOn              []Reference            `json:"basedOn,omitempty"`
	Status               string                 `json:"status"`
	Category             []CodeableConcept      `json:"category,omitempty"`
	Code                 CodeableConcept        `json:"code"`
	Subject              *Reference             `json:"subject,omitempty"`
	Encounter            *Reference             `json:"encounter,omitempty"`
	EffectiveDateTime    string                 `json:"effectiveDateTime,omitempty"`
	Issued               string                 `json:"issued,omitempty"`
	Performer            []Reference            `json:"performer,omitempty"`
	ValueQuantity        *Quantity              `json:"valueQuantity,omitempty"`
	ValueCodeableConcept *CodeableConcept       `json:"valueCodeableConcept,omitempty"`
	ValueString          *string                `json:"valueString,omitempty"`
	ValueDateTime        string                 `json:"valueDateTime,omitempty"`
	ValueRange           *Range                 `json:"valueRange,omitempty"`
	ValueRatio           *Ratio                 `json:"valueRatio,omitempty"`
	DataAbsentReason     *CodeableConcept       `json:"dataAbsentReason,omitempty"`
	Interpretation       []CodeableConcept      `json:"interpretation,omitempty"`
	Note                 []Annotation           `json:"note,omitempty"`
	Method               *CodeableConcept       `json:"method,omitempty"`
	Specimen             *Reference             `json:"specimen,omitempty"`
	ReferenceRange       []ObservationRefRange  `json:"referenceRange,omitempty"`
	HasMember            []Reference            `json:"hasMember,omitempty"`
	Component            []ObservationComponent `json:"component,omitempty"`
}

// ObservationRefRange is Observation.referenceRange.
type ObservationRefRange struct {
	Low  *Quantity `json:"low,omitempty"`
	High *Quantity `json:"high,omitempty"`
	Text string    `json:"text,omitempty"`
}

// ObservationComponent is Observation.component.
type ObservationComponent struct {
	Code          CodeableConcept `json:"code"`
	ValueQuantity *Quantity       `json:"valueQuantity,omitempty"`
}

// DiagnosticReport is a FHIR DiagnosticReport.
type DiagnosticReport struct {
	Base
	Identifier        []Identifier      `json:"identifier,omitempty"`
	BasedOn           []Reference       `json:"basedOn,omitempty"`
	Status            string            `json:"status"`
	Category          []CodeableConcept `json:"category,omitempty"`
	Code              CodeableConcept   `json:"code"`
	Subject           *Reference        `json:"subject,omitempty"`
	Encounter         *Reference        `json:"encounter,omitempty"`
	EffectiveDateTime string            `json:"effectiveDateTime,omitempty"`
	Issued            string            `json:"issued,omitempty"`
	Specimen          []Reference       `json:"specimen,omitempty"`
	Result            []Reference       `json:"result,omitempty"`
}

// Specimen is a FHIR Specimen.
type Specimen struct {
	Base
	Identifier   []Identifier        `json:"identifier,omitempty"`
	Type         *CodeableConcept    `json:"type,omitempty"`
	Subject      *Reference          `json:"subject,omitempty"`
	ReceivedTime string              `json:"receivedTime,omitempty"`
	Request      []Reference         `json:"request,omitempty"`
	Collection   *SpecimenCollection `json:"collection,omitempty"`
}

// SpecimenCollection is Specimen.collection.
type SpecimenCollection struct {
	CollectedDateTime string           `json:"collectedDateTime,omitempty"`
	CollectedPeriod   *Period          `json:"collectedPeriod,omitempty"`
	Method            *CodeableConcept `json:"method,omitempty"`
	BodySite          *CodeableConcept `json:"bodySite,omitempty"`
}

// ServiceRequest is a FHIR ServiceRequest.
type ServiceRequest struct {
	Base
	Identifier []Identifier      `json:"identifier,omitempty"`
	BasedOn    []Reference       `json:"basedOn,omitempty"`
	Status     string            `json:"status"`
	Intent     string            `json:"intent"`
	Category   []CodeableConcept `json:"category,omitempty"`
	Priority   string            `json:"priority,omitempty"`
	Code       *CodeableConcept  `json:"code,omitempty"`
	Subject    Reference         `json:"subject"`
	Encounter  *Reference        `json:"encounter,omitempty"`
	AuthoredOn string            `json:"authoredOn,omitempty"`
	Requester  *Reference        `json:"requester,omitempty"`
	Performer  []Reference       `json:"performer,omitempty"`
	ReasonCode []CodeableConcept `json:"reasonCode,omitempty"`
	Specimen   []Reference       `json:"specimen,omitempty"`
	Note       []Annotation      `json:"note,omitempty"`
}

// AllergyIntolerance is a FHIR AllergyIntolerance.
type AllergyIntolerance struct {
	Base
	Identifier     []Identifier      `json:"identifier,omitempty"`
	ClinicalStatus *CodeableConcept  `json:"clinicalStatus,omitempty"`
	Category       []string          `json:"category,omitempty"`
	Criticality    string            `json:"criticality,omitempty"`
	Code           *CodeableConcept  `json:"code,omitempty"`
	Patient        Reference         `json:"patient"`
	OnsetDateTime  string            `json:"onsetDateTime,omitempty"`
	Reaction       []AllergyReaction `json:"reaction,omitempty"`
}

// AllergyReaction is AllergyIntolerance.reaction.
type AllergyReaction struct {
	Manifestation []CodeableConcept `json:"manifestation"`
	Severity      string            `json:"severity,omitempty"`
}

// Condition is a FHIR Condition.
type Condition struct {
	Base
	Identifier         []Identifier      `json:"identifier,omitempty"`
	ClinicalStatus     *CodeableConcept  `json:"clinicalStatus,omitempty"`
	VerificationStatus *CodeableConcept  `json:"verificationStatus,omitempty"`
	Category           []CodeableConcept `json:"category,omitempty"`
	Code               *CodeableConcept  `json:"code,omitempty"`
	Subject            Reference         `json:"subject"`
	Encounter          *Reference        `json:"encounter,omitempty"`
	OnsetDateTime      string            `json:"onsetDateTime,omitempty"`
	RecordedDate       string            `json:"recordedDate,omitempty"`
	Recorder           *Reference        `json:"recorder,omitempty"`
}

// Practitioner is a FHIR Practitioner.
type Practitioner struct {
	Base
	Identifier []Identifier `json:"identifier,omitempty"`
	Name       []HumanName  `json:"name,omitempty"`
}

// Bundle is a FHIR Bundle.
type Bundle struct {
	Type       string        `json:"resourceType"`
	ID         string        `json:"id,omitempty"`
	BundleType string        `json:"type"`
	Timestamp  string        `json:"timestamp,omitempty"`
	Entry      []BundleEntry `json:"entry,omitempty"`
}

// BundleEntry is Bundle.entry.
type BundleEntry struct {
	FullURL  string         `json:"fullUrl,omitempty"`
	Resource any            `json:"resource,omitempty"`
	Request  *BundleRequest `json:"request,omitempty"`
}

// BundleRequest is Bundle.entry.request.
type BundleRequest struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	IfNoneExist string `json:"ifNoneExist,omitempty"`
}
