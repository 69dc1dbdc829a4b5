// Package golden reads the golden file of what HL7's fhirpath.js, an engine
// independent of the gateway's, selects with every official search parameter's
// expression on every example resource it applies to. The file is written by
// gateway/fhirpath/internal/golden/gen.mjs (its header tells how resolve() and the R4
// readings fhirpath.js lacks are handled); gateway/fhirpath's tests compare FHIRPath
// results with it, gateway/index's the index rows built from them.
package golden

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
)

// Record is one line of the golden file: a (file, parameter) pair with values or with
// the error fhirpath.js raised. Pairs without values have no line.
type Record struct {
	File    string            `json:"file"`
	Param   string            `json:"param"`
	Values  []json.RawMessage `json:"values"`
	Error   string            `json:"error"`
	Rewrite string            `json:"rewrite"`
	// Components, for a composite parameter: per item of Values, per component of
	// the parameter, what the component's expression selects on that item.
	Components [][]Component `json:"components"`
}

// Component is what fhirpath.js selected with one component expression of a
// composite parameter on one item, with the FHIRPath type of each value, or the
// error it raised.
type Component struct {
	Values []json.RawMessage `json:"values"`
	Types  []string          `json:"types"`
	Error  string            `json:"error"`
}

// HasComponents reports, without decoding it, whether a line of the golden file may be
// a composite parameter's record; only those carry components. Read's keep.
func HasComponents(line []byte) bool {
	return bytes.Contains(line, []byte(`"components":`))
}

// Read decodes the golden file at path, gzip-compressed JSON lines, and calls fn with
// each record in file order, stopping at fn's first error. Lines that keep (if not
// nil) rejects are passed over undecoded. A file with no record kept is an error, so
// that the tests comparing with it cannot pass vacuously.
func Read(path string, keep func(line []byte) bool, fn func(Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 64<<20) // a record holds every value of a parameter on one example
	kept := 0
	for line := 1; sc.Scan(); line++ {
		if keep != nil && !keep(sc.Bytes()) {
			continue
		}
		kept++
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("read %s: line %d: %w", path, line, err)
		}
		if err := fn(r); err != nil {
			return fmt.Errorf("read %s: line %d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if kept == 0 {
		return fmt.Errorf("read %s: no records", path)
	}
	return nil
}
