// Package conformance holds the end-to-end tests that hold the gateway to the FHIR R4
// specification through its HTTP API, against every store: the interactions and their
// error cases, fidelity on every official example resource, and concurrency.
package conformance
