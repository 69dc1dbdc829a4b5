// Package fhirpath compiles and evaluates FHIRPath (N1, as profiled by FHIR
// R4) expressions against FHIR R4 resources decoded from JSON with
// json.Decoder.UseNumber into map[string]any / []any / json.Number. It exists
// to extract search parameter values: every expression of the 1,400 official
// R4 SearchParameters compiles and evaluates on the R4 examples, and the
// engine passes 932 of the 935 cases of the official FHIRPath R4 test suite
// (the rest are listed, with reasons, in suite_test.go).
//
// # Use for indexing
//
// Compile each SearchParameter expression once and keep the *Expression: it
// is immutable and safe for concurrent use. On every write, evaluate it on the
// decoded resource:
//
//	x, err := fhirpath.Compile("Patient.name | Practitioner.name")
//	...
//	items, err := x.Evaluate(ctx, resource) // resource: map[string]any
//	for _, it := range items {
//		switch it.Type() { // "HumanName", "Identifier", "CodeableConcept", "date", ...
//		case "HumanName":
//			m := it.Value().(map[string]any) // the resource's own JSON object, not a copy
//			...
//		}
//	}
//
// Each Item has:
//   - Type: the FHIR type name of the element as the R4 model declares it
//     ("HumanName", "Identifier", "CodeableConcept", "Coding", "Reference",
//     "Period", "Quantity", "Age", "Timing", "date", "dateTime", "instant",
//     "code", "string", "uri", ...), the resource type for resources
//     ("Patient"), the element path for backbone elements ("Patient.contact"),
//     or a System type ("System.Boolean", "System.String", ...) for values the
//     expression computed.
//   - Value: the JSON node (map[string]any for complex types; string,
//     json.Number or bool for primitives; nil for a primitive that has only
//     extensions) or, for System items, bool, string, int64, Decimal,
//     DateTime or Quantity.
//   - PrimitiveExtension: the "_name" sibling of a primitive (id, extension).
//   - String: the value as text (primitives) or JSON (complex nodes).
//
// Choice elements are navigated by their FHIRPath name (Observation.value
// yields the valueQuantity, valueString... node, typed Quantity, string...);
// the JSON names (Observation.valueQuantity) are an error, as R4 requires.
// Expressions shared by several resource types ("Patient.name |
// Practitioner.name") yield nothing for the heads that are not the
// resource's type. resolve() uses WithResolver if given; otherwise a
// "Type/id" reference resolves to a stub resource of that type (enough for
// where(resolve() is Patient)) and "#id" to the contained resource.
//
// Evaluation checks ctx: a deadline stops runaway expressions from
// user-defined SearchParameters. Errors from Evaluate wrap ErrEvaluation
// (or the context's error); errors from Compile are syntax or unknown
// function errors. Functions needing a terminology server (memberOf,
// subsumes) are not supported; conformsTo knows only the core resource
// profiles.
package fhirpath

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Expression is a compiled FHIRPath expression, safe for concurrent use.
type Expression struct {
	src  string
	root node
}

// Compile parses expr.
func Compile(expr string) (*Expression, error) {
	n, err := parse(expr)
	if err != nil {
		return nil, fmt.Errorf("compile %q: %w", expr, err)
	}
	return &Expression{src: expr, root: n}, nil
}

// MustCompile is Compile that panics on error, for expressions fixed in code.
func MustCompile(expr string) *Expression {
	e, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the source text.
func (x *Expression) String() string { return x.src }

// Resolver resolves a reference string (as found in Reference.reference)
// to a resource JSON node, for resolve().
type Resolver interface {
	Resolve(ctx context.Context, reference string) (any, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, reference string) (any, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ctx context.Context, reference string) (any, error) {
	return f(ctx, reference)
}

// Option configures one evaluation.
type Option func(*env)

// WithModel sets the type model (by default: DefaultModel()).
func WithModel(m Model) Option { return func(e *env) { e.model = m } }

// WithResolver sets the resolver for resolve(). Without one, "Type/id"
// references resolve to an empty resource of that type and "#id" to the
// contained resource.
func WithResolver(r Resolver) Option { return func(e *env) { e.resolver = r } }

// WithVariable defines the environment variable %name.
func WithVariable(name string, value Collection) Option {
	return func(e *env) {
		if e.vars == nil {
			e.vars = map[string]Collection{}
		}
		e.vars[name] = value
	}
}

// WithNow fixes the value of now(), today() and timeOfDay().
func WithNow(t time.Time) Option { return func(e *env) { e.now = t } }

// WithTrace receives the collections passed to trace().
func WithTrace(f func(name string, c Collection)) Option { return func(e *env) { e.trace = f } }

// WithStrict makes navigation to element names the model does not define
// for the item's type an error instead of an empty result.
func WithStrict() Option { return func(e *env) { e.strict = true } }

// WithContext evaluates with %context and $this set to c while %resource
// stays the resource passed to Evaluate.
func WithContext(c Collection) Option { return func(e *env) { e.contextColl = c; e.hasContext = true } }

// ErrEvaluation marks evaluation errors (as opposed to syntax errors).
var ErrEvaluation = errors.New("fhirpath evaluation")

// Evaluate runs the expression against a resource (a decoded JSON object or
// any Item/Collection). The result items carry their FHIR or System type.
func (x *Expression) Evaluate(ctx context.Context, resource any, opts ...Option) (Collection, error) {
	e := &env{ctx: ctx}
	for _, o := range opts {
		o(e)
	}
	if e.model == nil {
		e.model = DefaultModel()
	}
	var root Collection
	switch r := resource.(type) {
	case nil:
	case Collection:
		root = r
	case Item:
		root = Collection{r}
	case map[string]any:
		t, _ := r["resourceType"].(string)
		root = Collection{{typ: t, node: r}}
	default:
		root = Collection{{node: r}}
	}
	e.resource = root
	if !e.hasContext {
		e.contextColl = root
	}
	out, err := x.root.eval(e, e.contextColl)
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %w", x.src, err)
	}
	return out, nil
}

// evalError builds an evaluation error.
func evalError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrEvaluation, fmt.Sprintf(format, args...))
}
