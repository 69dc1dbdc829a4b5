// Package ingest takes HL7 v2 messages from a transport (MLLP, HTTP), keeps every one
// of them, applies the FHIR resources they map to, and answers with the acknowledgment
// the sender asked for.
//
// # What happens to a message
//
// Pipeline.Process parses the bytes (a channel's charset override, else MSH-18, else
// UTF-8 with GB18030 as fallback), checks the header, maps the message with v2fhir and
// applies the transaction Bundle. Whatever the outcome, the raw bytes are stored as a
// store.Message with the sender (MSH-3^MSH-4), MSH-10, MSH-9, the event time, a status
// and a reason that never carries patient data:
//
//   - applied (AA): the message row and every resource it produced commit in one
//     store.Update transaction. Mapping warnings come back as ERR segments of
//     severity W on the AA.
//   - error (AE): the message parsed but could not be applied (unsupported type,
//     mapping error, FHIR validation failure, ambiguous patient). The failed
//     transaction is rolled back and the message is stored in a separate one, so it
//     waits with its reason for Replay.
//   - rejected (AR): the message cannot be parsed, or its version (MSH-12), processing
//     id (MSH-11), control id (MSH-10) or type (MSH-9) is missing or not accepted.
//     When not even MSH can be read the row has an empty sender and control id. AR is
//     also the answer when the store itself fails (HL7's "reject for reasons unrelated
//     to content": the sender should retry); then nothing may have been stored.
//   - duplicate (AA): a message whose sender and MSH-10 were already applied is
//     stored as its own row with status duplicate, a reason naming the applied
//     message, and the resources of that message; nothing is applied again, so no
//     resource gets a new version. Concurrent copies serialise on a transaction lock
//     on (sender, MSH-10), and the store's unique constraint (ErrConflict) backs that
//     up: the loser re-checks and is answered as a duplicate.
//
// # Enhanced acknowledgment mode
//
// When MSH-15 or MSH-16 is valued the sender asked for enhanced mode. Outcome.ACK is
// then the accept (commit) acknowledgment: CA once the message is stored (whether or
// not it could be applied), CR when it is rejected (the AR cases), CE when it could not
// be stored. Outcome.AppACK is the application acknowledgment (AA/AE/AR, its own MSH-10,
// MSH-15 and MSH-16 NE so that nobody acknowledges an acknowledgment), present only when
// MSH-16 asks for it: AL always, ER only for AE/AR, SU only for AA, NE never; the
// transport sends it to the sender as a new message. An empty MSH-15 or MSH-16 next to
// a valued one counts as AL. Outcome.SkipACK is set when MSH-15 (NE, ER on success, SU
// on failure) says the commit ACK must not be sent; ACK is built anyway.
//
// # Acknowledgments
//
// An ACK swaps the sending and receiving application and facility, echoes MSH-10 in
// MSA-2, MSH-11 and MSH-12, and has its own control id. Errors go in ERR segments in the
// v2.5 layout (ERR-2 location, ERR-3 table 0357 code, ERR-4 severity, ERR-8 text) and,
// for messages before v2.5, also in ERR-1. An ACK to a message decoded from a non-UTF-8
// character set is encoded back into that set.
//
// # Ordering
//
// The event time is EVN-2, else MSH-7. Each resource key ("Patient/<id>") has a
// watermark (store EventTime/SetEventTime) of the newest event applied to it. A Bundle
// entry whose resource already reflects a newer event is dropped before applying; the
// message is still stored applied, with the reason "stale: older than ...". Equal
// event times apply (the later arrival wins).
//
// # Patients across senders
//
// Ids come from business identifiers (v2fhir), so a resend or replay updates. Before
// applying, the mapped Patient is matched: the Patient with its own id (when it exists)
// plus every Patient found by an identifier of a trusted system (Config.TrustedSystems,
// by default the citizen ID card systems), by an identifier of one of the sending
// sender's own systems (v2fhir.Config.SenderSystems: its identifiers without an
// assigning authority and those of the authority named after it: namespaced by the
// sender, so the Patient carrying one is the one the sender means) and, for v2fhir's
// conditional-patient mode, by the conditional identifier. One distinct match: the
// message is written to that Patient and every reference to the mapped id is
// rewritten. Two or more: AE "message matches N patients", stored error; nothing is
// picked silently.
//
// A mapped Patient is merged into the Patient it lands on as HL7 v2 treats absent
// fields: elements the message carries replace the stored ones, elements it does not
// carry are kept, and identifiers are the union (stored ones first). So a kiosk message
// with only an ID card and a name neither wipes the hospital's address nor adds a
// second Patient, and the hospital's next update does not drop the kiosk's identifiers.
// The kiosk's own identifier merged into the hospital's Patient is found again by the
// sender-system lookup: a later kiosk message carrying nothing but that identifier
// lands on the same Patient instead of writing one under its own mapped id.
//
// # Merge
//
// A merge message (ADT^A40, and A34, A36, A39 of older versions; v2fhir.Result.Merges)
// names per PID/MRG pair a surviving patient (PID) and a prior one (MRG-1, MRG-2,
// MRG-4). Before the rest of its Bundle, in the message's transaction, each pair is
// applied as FHIR Patient.link describes a merge:
//
//   - The prior Patient is the one with the id v2fhir derives from the MRG
//     identifiers, else the one Patient carrying one of them. None (the duplicate
//     registration never reached the gateway): it is created from the MRG
//     identifiers and merged like any other, so that a late message for it lands on
//     the survivor; the ACK is AA with an ERR warning PRIOR_UNKNOWN. Several: AE
//     "matches N patients" (205), stored error, for Replay after a fix.
//   - The survivor is found as any message's Patient (its own id, trusted
//     identifiers), leaving out the prior Patient, which may share an ID card: a
//     duplicate registration is what merges are for. It takes the PID as an ADT would
//     (unless it already reflects a newer event), the prior Patient's identifiers
//     (union) and link {other: prior, type: replaces}; it is created when it does not
//     exist.
//   - The prior Patient is kept, with active false and link {other: survivor, type:
//     replaced-by}; its identifiers stay, so it remains findable.
//   - Every resource found through the reference index to refer to the prior Patient
//     (every reference parameter that can target a Patient, the Patient compartment's
//     included) is read under lock and its references "Patient/<prior>" rewritten to
//     the survivor in the stored JSON (fhirjson.RewriteReferences: nothing else
//     changes, primitive extensions and number literals included), as a new version.
//
// Patient matching follows replaced-by links, so a later message with the old MRN
// lands on the survivor. A prior Patient already replaced by another survivor is AE;
// one already replaced by this survivor merges again without new versions (unless
// the PID brings new demographics), so a second A40 or a replay is harmless. Known limits:
// references by absolute URL or to a version (Patient/x/_history/n) are not moved, nor
// are references in elements no search parameter indexes, unless the resource is found
// through another.
//
// # Local codes
//
// Config.ConceptMaps names, per sender, stored ConceptMaps that translate the sender's
// local codes: inside the apply transaction every Coding whose system is a source of
// one of them gets its standard targets added beside it, and a code without one is
// reported as a CODE_UNMAPPED warning (translate.go).
//
// # Replay
//
// Pipeline.Replay runs a stored message's raw bytes through the pipeline again (after a
// mapping or configuration fix, or once a conflicting Patient was removed), with the
// channel's charset from Config.ChannelCharsets, and updates the same row: status,
// reason, resources and Attempts+1. Replaying an applied message only acknowledges it
// again.
package ingest
