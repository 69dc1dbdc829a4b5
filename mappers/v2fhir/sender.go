package v2fhir

import (
	"slices"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// SenderSystems returns the identifier systems that belong to the sender of msg
// alone: the system of its identifiers sent without an assigning authority
// (Sender.DefaultSystem, else IdentifierSystemBase + the sender key) and the
// system of an assigning authority named after the sender itself (its MRNs, as
// "MRN0012345^^^SQ-CHC-01^MR" from facility SQ-CHC-01). Both are namespaced by the
// sender, so a stored Patient carrying one of them was identified by this sender,
// whichever sender's message created it: the receiver can match on them as safely
// as on a trusted system. Systems of other assigning authorities are left out,
// even those in the sender's own table, since several senders may share them.
// The sender key is MSH-4.1, else MSH-3.1, as in Map.
func (c Config) SenderSystems(msg *hl7v2.Message) []string {
	if msg == nil {
		return nil
	}
	m := &mapper{cfg: c.withDefaults(), sender: msg.Get("MSH-4.1")}
	if m.sender == "" {
		m.sender = msg.Get("MSH-3.1")
	}
	if m.sender == "" {
		return nil
	}
	var out []string
	for _, s := range []string{m.identifierSystem("", "", ""), m.identifierSystem(m.sender, "", "")} {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
