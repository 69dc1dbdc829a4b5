package fhirr4

// Immunization is a FHIR Immunization.
type Immunization struct {
	Base
	Identifier         []Identifier            `json:"identifier,omitempty"`
	Status             string                  `json:"status"`
	StatusReason       *CodeableConcept        `json:"statusReason,omitempty"`
	VaccineCode        CodeableConcept         `json:"vaccineCode"`
	Patient            Reference               `json:"patient"`
	Encounter          *Reference              `json:"encounter,omitempty"`
	OccurrenceDateTime string                  `json:"occurrenceDateTime,omitempty"`
	OccurrenceString   string                  `json:"occurrenceString,omitempty"`
	Recorded           string                  `json:"recorded,omitempty"`
	PrimarySource      *bool                   `json:"primarySource,omitempty"`
	ReportOrigin       *CodeableConcept        `json:"reportOrigin,omitempty"`
	Manufacturer       *Reference              `json:"manufacturer,omitempty"`
	LotNumber          string                  `json:"lotNumber,omitempty"`
	ExpirationDate     string                  `json:"expirationDate,omitempty"`
	Site               *CodeableConcept        `json:"site,omitempty"`
	Route              *CodeableConcept        `json:"route,omitempty"`
	DoseQuantity       *Quantity               `json:"doseQuantity,omitempty"`
	Performer          []ImmunizationPerformer `json:"performer,omitempty"`
	Note               []Annotation            `json:"note,omitempty"`
	ProgramEligibility []CodeableConcept       `json:"programEligibility,omitempty"`
	FundingSource      *CodeableConcept        `json:"fundingSource,omitempty"`
}

// ImmunizationPerformer is Immunization.performer.
type ImmunizationPerformer struct {
	Function *CodeableConcept `json:"function,omitempty"`
	Actor    Reference        `json:"actor"`
}

// Appointment is a FHIR Appointment.
type Appointment struct {
	Base
	Identifier        []Identifier             `json:"identifier,omitempty"`
	Status            string                   `json:"status"`
	CancelationReason *CodeableConcept         `json:"cancelationReason,omitempty"`
	ServiceType       []CodeableConcept        `json:"serviceType,omitempty"`
	AppointmentType   *CodeableConcept         `json:"appointmentType,omitempty"`
	ReasonCode        []CodeableConcept        `json:"reasonCode,omitempty"`
	Description       string                   `json:"description,omitempty"`
	Start             string                   `json:"start,omitempty"`
	End               string                   `json:"end,omitempty"`
	MinutesDuration   int                      `json:"minutesDuration,omitempty"`
	Comment           string                   `json:"comment,omitempty"`
	Participant       []AppointmentParticipant `json:"participant"`
}

// AppointmentParticipant is Appointment.participant.
type AppointmentParticipant struct {
	Type   []CodeableConcept `json:"type,omitempty"`
	Actor  *Reference        `json:"actor,omitempty"`
	Status string            `json:"status"`
	Period *Period           `json:"period,omitempty"`
}
