// Package store defines how the gateway keeps FHIR resources: every version of every
// resource, together with the search index rows extracted from it, written atomically.
//
// The gateway decides what a resource looks like (id, meta, index values); a Store only
// keeps it. Implementations live in sub-packages (sqlite for the embedded default,
// postgres for production) and must pass the contract suite in storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every Store returns, so that callers can map them to FHIR outcomes.
var (
	// ErrNotFound means the resource (or the version asked for) never existed.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a write lost a race: the version it meant to write already exists.
	ErrConflict = errors.New("store: version conflict")
)

// Resource is one stored version of a FHIR resource.
type Resource struct {
	Type        string
	ID          string
	Version     int64     // 1, 2, 3, ... per resource
	LastUpdated time.Time // UTC, truncated to microseconds
	Deleted     bool      // this version records a delete; Body is empty
	// Method is the interaction that produced the version: POST, PUT, PATCH or DELETE.
	// History bundles report it in entry.request.method.
	Method string
	// Body is the resource JSON exactly as the gateway wrote it, id and meta included.
	Body []byte
	// Seq orders every write in the store; history pages by it. Set by the store.
	Seq int64
}

// Store keeps resources. Implementations are safe for concurrent use.
type Store interface {
	Reader
	// Update runs fn in one write transaction: everything fn writes commits together or
	// not at all. If fn returns an error the transaction is rolled back and Update
	// returns that error. Update may call fn again when the database asks for a retry
	// (deadlock, serialization failure), so fn must not have effects outside tx.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error
	// Close releases the store's resources; in-flight calls finish first.
	Close() error
}

// Reader is the read side of a store, outside or inside a transaction.
type Reader interface {
	// Read returns the current version of a resource. A deleted resource is returned
	// with Deleted set. ErrNotFound when the resource never existed.
	// Inside a Tx, Read also locks the resource until the transaction ends, so that a
	// read-check-write sequence cannot interleave with another writer.
	Read(ctx context.Context, typ, id string) (Resource, error)
	// VRead returns one version of a resource. ErrNotFound when there is no such version.
	VRead(ctx context.Context, typ, id string, version int64) (Resource, error)
	// History lists versions newest first.
	History(ctx context.Context, q HistoryQuery) (HistoryPage, error)
	// Search finds current, not deleted resources.
	Search(ctx context.Context, q Query) (Page, error)
	MessageReader
	StateReader
}

// Tx is a write transaction.
type Tx interface {
	Reader
	// Put writes r as the newest version of its resource, replaces the resource's index
	// rows with idx (nil or empty for a delete) and records the version in history.
	// r.Version must be one more than the current version (1 for a resource that never
	// existed); otherwise Put returns ErrConflict. Put sets nothing in r.Body. A store
	// may send writes together: then Put's error (ErrConflict included) comes from the
	// next call on the transaction or from Update, and the transaction fails either way.
	Put(ctx context.Context, r Resource, idx *Index) error
	// Peek reads the current version like Read but without locking it: what is
	// committed (and what this transaction wrote). For checks that need no lock, such
	// as whether an update changes anything.
	Peek(ctx context.Context, typ, id string) (Resource, error)
	// Prefetch tells the store which resources Peek will be asked for next, so that a
	// store with round trips can read them all in one. What Peek answers stays the
	// same; a store may ignore it.
	Prefetch(ctx context.Context, refs []Ref) error
	// Lock takes a lock on an arbitrary key until the transaction ends. Conditional
	// create uses it so that two requests with the same condition cannot both create.
	Lock(ctx context.Context, key string) error
	// Reindex replaces the index rows of the current version of r.Type/r.ID when that
	// version is still r.Version (background re-indexing after search parameters
	// change). It reports false, changing nothing, when the resource has moved on or is
	// deleted.
	Reindex(ctx context.Context, r Resource, idx *Index) (bool, error)
	MessageWriter
	StateWriter
}

// StateReader reads the gateway's own small records (background jobs), kept in the
// database so that every gateway process shares them.
type StateReader interface {
	// GetState returns the value under key; ErrNotFound when there is none.
	GetState(ctx context.Context, key string) ([]byte, error)
	// ListState returns every entry whose key starts with prefix, by key.
	ListState(ctx context.Context, prefix string) ([]StateEntry, error)
}

// StateWriter writes state inside a transaction.
type StateWriter interface {
	// PutState stores value under key, replacing what was there.
	PutState(ctx context.Context, key string, value []byte) error
}

// Ref names a resource.
type Ref struct {
	Type, ID string
}

// StateEntry is one state record.
type StateEntry struct {
	Key   string
	Value []byte
}

// HistoryQuery selects versions for a history interaction.
type HistoryQuery struct {
	Type  string    // empty: every type (system history)
	ID    string    // empty: every resource of Type (type history); requires Type
	Since time.Time // zero: no lower bound; otherwise LastUpdated >= Since
	// Count is the page size; 0 asks only how many versions match (HistoryPage.Total).
	Count int
	// Before continues a listing: only versions with Seq < Before. Zero starts at the newest.
	Before int64
}

// HistoryPage is one page of history, newest first.
type HistoryPage struct {
	Versions []Resource
	// Next is the Before value of the following page; zero when this is the last page.
	Next int64
	// Total is the number of versions the query matches when Count was 0 (Before
	// ignored); otherwise it is not set.
	Total int
}

// Index holds the search index rows extracted from one resource version. Each row names
// the search parameter (its code, for example "identifier" or "birthdate") it belongs to.
type Index struct {
	Strings    []StringEntry
	Tokens     []TokenEntry
	References []ReferenceEntry
	Dates      []DateEntry
	Quantities []QuantityEntry
	Numbers    []NumberEntry
	URIs       []URIEntry
}

// Len is the number of rows in the index.
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return len(x.Strings) + len(x.Tokens) + len(x.References) + len(x.Dates) +
		len(x.Quantities) + len(x.Numbers) + len(x.URIs)
}

// Append adds the rows of o to x.
func (x *Index) Append(o *Index) {
	x.Strings = append(x.Strings, o.Strings...)
	x.Tokens = append(x.Tokens, o.Tokens...)
	x.References = append(x.References, o.References...)
	x.Dates = append(x.Dates, o.Dates...)
	x.Quantities = append(x.Quantities, o.Quantities...)
	x.Numbers = append(x.Numbers, o.Numbers...)
	x.URIs = append(x.URIs, o.URIs...)
}

// StringEntry indexes a string value. Norm is the value folded for the default
// starts-with, case- and accent-insensitive match; Exact is the value as written.
type StringEntry struct {
	Param string
	Norm  string
	Exact string
}

// TokenEntry indexes a code, identifier, boolean or similar value. Text is the display
// text searched by the :text modifier, folded like StringEntry.Norm.
type TokenEntry struct {
	Param  string
	System string
	Code   string
	Text   string
}

// ReferenceEntry indexes a reference. A local reference has TargetType and TargetID; an
// absolute or canonical reference also (or only) has URL.
type ReferenceEntry struct {
	Param      string
	TargetType string
	TargetID   string
	URL        string
}

// DateEntry indexes a date, dateTime, instant or Period as the closed range it covers.
type DateEntry struct {
	Param string
	Low   time.Time
	High  time.Time
}

// QuantityEntry indexes a Quantity (or Money, Duration, ...).
type QuantityEntry struct {
	Param  string
	Value  float64
	System string
	Code   string
	Unit   string
}

// NumberEntry indexes an integer or decimal.
type NumberEntry struct {
	Param string
	Value float64
}

// URIEntry indexes a uri, url or canonical.
type URIEntry struct {
	Param string
	URI   string
}

// ParamKind is a FHIR search parameter type.
type ParamKind int

// The search parameter types the index tables cover.
const (
	KindToken ParamKind = iota + 1
	KindString
	KindReference
	KindDate
	KindQuantity
	KindNumber
	KindURI
)

// Query is a search over current, not deleted resources.
type Query struct {
	Type  string   // resource type; empty with Types for a system search
	Types []string // system search: any of these types; empty with Type empty: all types
	// Where holds clauses that must all match (AND).
	Where []Clause
	// Sort orders the matches; empty: newest first (lastUpdated descending, then id).
	// Resources without a value for a sort key come after those with one.
	Sort []SortKey
	// After and Before page by keyset in the query's order: only matches after (or, in
	// reverse, before) the cursor. With Before the page holds the matches just before
	// the cursor, still in the query's order, and More reports whether more precede
	// them. With Sort, the cursor's Sort holds one value per sort key.
	After  *Cursor
	Before *Cursor
	// Count is the page size; zero asks only for the total.
	Count  int
	Offset int
	// Total asks the store to count every match, not just the page.
	Total bool
	// Estimate (with Total) lets the store answer Total with an estimate when counting
	// every match would be costly; small totals stay exact.
	Estimate bool
}

// Cursor is a position in a search order: the sort key values (with Sort), then the
// default order (LastUpdated descending, then ID, then Type), which breaks ties.
type Cursor struct {
	LastUpdated time.Time
	ID          string
	Type        string
	// Sort holds the resource's value of each Query.Sort key, in order: a string for
	// string, token, reference and uri keys and for _id; int64 microseconds since the
	// epoch for date keys (the low end of the range ascending, the high end
	// descending) and for _lastUpdated; float64 for number and quantity keys. nil
	// marks a resource without a value. Empty for the default order.
	Sort []any
}

// SortKey orders search results by a search parameter's indexed values ("_id" and
// "_lastUpdated" sort on the resource itself).
type SortKey struct {
	Param string
	Kind  ParamKind
	Desc  bool
}

// Clause matches when any of its values matches (OR). Exactly one of the value slices is
// used, chosen by Kind. The special parameters "_id" and "_lastUpdated" are answered from
// the resource itself, not from the index tables.
type Clause struct {
	Param string
	Kind  ParamKind
	// Not inverts the clause: resources with no value matching (token :not, ne).
	Not bool
	// Missing, when set, asks for resources with (false) or without (true) any value for
	// Param; the value slices are ignored.
	Missing    *bool
	Tokens     []TokenMatch
	Dates      []DateMatch
	Strings    []StringMatch
	References []ReferenceMatch
	Quantities []QuantityMatch // also number parameters (System and Code empty)
	URIs       []URIMatch
	// Chain matches resources whose reference parameter Param points at a resource
	// of Chain.Type that matches Chain.Where (subject:Patient.name=...).
	Chain *Chain
	// Has matches resources that a resource of Has.Type refers to through Has.Param,
	// where that resource matches Has.Where (_has:Observation:patient:code=...).
	Has *Has
	// Compartment matches resources in a compartment (Patient/123/...): those that
	// refer to the compartment's resource through any of the parameters listed for their
	// type. Param and Kind are ignored.
	Compartment *Compartment
	// Composite matches a composite parameter (code-value-quantity=...$...): one
	// clause per component, in the definition's order, each with its Kind and values,
	// all matching the same item the composite's expression selected. The index holds
	// component i of item g under the parameter "Param#g$i".
	Composite []Clause
	// Any matches when any of its clauses matches; All when all of them do. Param and
	// Kind are ignored.
	Any []Clause
	All []Clause
}

// Chain is the target side of a chained search.
type Chain struct {
	Type  string // the target resource type; empty: any type the reference names
	Where Clause
}

// Has is the source side of a reverse chain (_has).
type Has struct {
	Type  string // the referring resource type
	Param string // its reference parameter
	Where Clause
}

// Compartment selects the resources of one compartment instance.
type Compartment struct {
	Type   string              // "Patient"
	ID     string              // "123"
	Params map[string][]string // resource type -> its reference parameters that link it
	// IncludeSelf adds the compartment's own resource (Patient/123 itself).
	IncludeSelf bool
}

// TokenMatch matches a token. AnySystem means the search gave no system ("code");
// otherwise System must equal ("|code" has System ""). An empty Code matches any code
// in System ("system|"). Text, when set, matches the folded display text by prefix
// instead (the :text modifier).
type TokenMatch struct {
	AnySystem bool
	System    string
	Code      string
	Text      string
}

// DateMatch matches a date index range against a search range with a FHIR prefix
// (eq, ne, lt, gt, le, ge, sa, eb, ap). Low and High bound the value as written.
type DateMatch struct {
	Prefix string
	Low    time.Time
	High   time.Time
}

// StringMode is how a string value matches.
type StringMode int

// String match modes: the default starts-with on folded text, :exact, :contains.
const (
	StringPrefix StringMode = iota
	StringExact
	StringContains
)

// StringMatch matches a string parameter. Value is folded (for prefix and contains)
// by the caller, or as written (exact).
type StringMatch struct {
	Value string
	Mode  StringMode
}

// ReferenceMatch matches a reference. Type and ID match a local reference (an empty Type:
// any type); URL matches an absolute reference or canonical exactly.
type ReferenceMatch struct {
	Type string
	ID   string
	URL  string
}

// QuantityMatch matches a quantity or number with a FHIR prefix. [Low, High) is the
// range the value as written denotes (its implied precision); Value is the value itself
// for the comparison prefixes. AnyUnit ignores System and Code; an empty System with a
// Code matches the code or the unit text.
type QuantityMatch struct {
	Prefix  string
	Value   float64
	Low     float64
	High    float64
	AnyUnit bool
	System  string
	Code    string
}

// URIMode is how a uri value matches.
type URIMode int

// URI match modes: exact, :below (the value is a prefix of the stored uri), :above (the
// stored uri is a prefix of the value).
const (
	URIExact URIMode = iota
	URIBelow
	URIAbove
)

// URIMatch matches a uri parameter.
type URIMatch struct {
	Value string
	Mode  URIMode
}

// Page is one page of search results.
type Page struct {
	Resources []Resource
	// Total is the number of matches when Query.Total was set, otherwise -1.
	Total int
	// More reports whether matches follow this page.
	More bool
	// Positions holds the position of each resource in the query's order, parallel to
	// Resources, so that next and previous links can continue from the first or last
	// one. Stores built on sqlsearch fill it; it may be empty otherwise.
	Positions []Cursor
}

// Statuses of a received message.
const (
	// MessageApplied: every resource the message produced was committed with it.
	MessageApplied = "applied"
	// MessageError: the message was understood but could not be applied (AE).
	MessageError = "error"
	// MessageRejected: the message was refused before applying it (AR).
	MessageRejected = "rejected"
	// MessageDuplicate: the message repeats one already applied (same sender and
	// control id) and was acknowledged again without being applied.
	MessageDuplicate = "duplicate"
)

// SupersededPrefix starts the Reason of a message that failed (error or rejected)
// and was later superseded by an applied message with the same sender and control
// id: "superseded by message <id>: <the reason it failed>". Its status stays what
// it was; MessageQuery.Superseded leaves such messages out of an error queue.
const SupersededPrefix = "superseded by message "

// Message is one HL7 v2 message as received, with what became of it. Every message is
// stored, whatever its outcome, so that it can be inspected and replayed.
type Message struct {
	ID        string    // assigned by PutMessage (a UUID) when empty
	Channel   string    // the receiver or configured channel it came in on ("mllp", "http", ...)
	Sender    string    // MSH-3^MSH-4, as the gateway normalises it
	ControlID string    // MSH-10
	Type      string    // message type and trigger event, "ADT^A01"
	EventTime time.Time // EVN-2 or MSH-7; zero when absent
	Received  time.Time // UTC, microseconds; set to the store's clock when zero
	Status    string    // MessageApplied, MessageError, MessageRejected or MessageDuplicate
	Reason    string    // why it failed (the ERR text); never patient data
	Raw       []byte    // the bytes exactly as received
	// Charset is the character set the message was received with when the transport
	// named one (an HTTP charset parameter, a file ingested with --charset); empty
	// otherwise. Stored on insert and kept.
	Charset string
	// Resources lists the versions the message produced ("Patient/abc/_history/3").
	Resources []string
	Attempts  int   // 1 + the number of replays; PutMessage stores 1 when zero
	Seq       int64 // orders messages for listing; set by the store
}

// MessageQuery selects messages for a listing. Empty fields do not filter.
type MessageQuery struct {
	Status  string
	Sender  string // "HIS^FAC", or "HIS" for every facility of HIS
	Type    string // "ADT^A01", or "ADT" for every ADT
	Channel string
	Since   time.Time // Received >= Since
	Until   time.Time // Received < Until
	Count   int       // page size; zero or less: 50
	// Before continues a listing: only messages with Seq < Before. Zero starts at the
	// newest.
	Before int64
	// ControlID is MSH-10, exact.
	ControlID string
	// Superseded, when set, keeps only the messages whose Reason starts with
	// SupersededPrefix (true) or only the others (false).
	Superseded *bool
}

// DefaultMessageCount is the page size of a MessageQuery without Count.
const DefaultMessageCount = 50

// MessagePage is one page of messages, newest (highest Seq) first.
type MessagePage struct {
	Messages []Message
	// Next is the Before value of the following page; zero when this is the last page.
	Next int64
}

// MessageReader reads stored messages. Every Reader is one, on a Store or inside a Tx.
type MessageReader interface {
	// ReadMessage returns one message. ErrNotFound when there is none with that id.
	// Inside a Tx it also locks the message until the transaction ends, so that two
	// replays of one message cannot interleave.
	ReadMessage(ctx context.Context, id string) (Message, error)
	// FindAppliedMessage returns the applied message with that sender and control id:
	// the one a repeated message duplicates. Messages with another status, and an
	// empty controlID, never match; ErrNotFound when none does.
	FindAppliedMessage(ctx context.Context, sender, controlID string) (Message, error)
	// ListMessages lists messages newest first.
	ListMessages(ctx context.Context, q MessageQuery) (MessagePage, error)
}

// MessageWriter records messages and event-time watermarks inside a write transaction,
// so that a message commits together with every resource it produced, or not at all.
type MessageWriter interface {
	// PutMessage stores m. A message whose ID is empty or unknown is inserted (the
	// store assigns ID when empty, and Seq); one whose ID exists has its Status,
	// Reason, Resources and Attempts replaced (Attempts when > 0), keeping everything
	// else, Raw and Received included. It returns the message as stored.
	// Only one message per sender and non-empty control id can be applied: recording a
	// second returns ErrConflict, and Update then fails, committing nothing, so that the
	// caller can answer with the acknowledgement of the first.
	PutMessage(ctx context.Context, m Message) (Message, error)
	// EventTime returns the newest event time applied to resourceKey ("Patient/abc"),
	// zero if none, and locks the key until the transaction ends: a message older than
	// what a resource already reflects is recorded without overwriting newer data, and
	// concurrent messages for one resource check and advance its watermark in turn.
	EventTime(ctx context.Context, resourceKey string) (time.Time, error)
	// EventTimes is EventTime for several keys at once (one round trip where the store
	// has round trips), locked in sorted order; the result follows keys.
	EventTimes(ctx context.Context, resourceKeys []string) ([]time.Time, error)
	// SetEventTimes advances the watermarks of resourceKeys to t (microseconds), in one
	// statement where the store has round trips; it never moves one back, and a zero t
	// changes nothing.
	SetEventTimes(ctx context.Context, resourceKeys []string, t time.Time) error
}

// ValidMessageStatus reports whether s is one of the message statuses.
func ValidMessageStatus(s string) bool {
	switch s {
	case MessageApplied, MessageError, MessageRejected, MessageDuplicate:
		return true
	}
	return false
}
