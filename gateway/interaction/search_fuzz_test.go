package interaction

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store/sqlite/sqlitetest"
	"github.com/shch/fhirgw/gateway/store/sqlsearch"
)

// FuzzParseSearch drives the query parser with arbitrary query strings and runs what it
// accepts against a real (embedded) database: nothing may panic, every failure must be
// a FHIR outcome (a client error), never a database error, and no value the client
// sent may reach the SQL text — values are always bound parameters.
func FuzzParseSearch(f *testing.F) {
	for _, seed := range []string{
		"name=张&birthdate=ge1949",
		"identifier=urn:oid:2.16.156.10011.1.3|11010519491231002X",
		"subject:Patient.name=li&_include=Observation:subject&_sort=-date",
		"_has:Observation:subject:code=8480-6",
		"value-quantity=gt5.4|http://unitsofmeasure.org|mmol/L",
		"code:text=blood%27;DROP TABLE resources;--",
		"name:contains=%25_\\,x&_count=3&_offset=2",
		"date=sa2024-01&date=eb2025&_total=accurate&_summary=count",
		"_page=n.1700000000000000..abc",
		"url:below=http://hl7.org/fhir&_elements=id,code",
	} {
		f.Add("Observation", seed)
		f.Add("Patient", seed)
	}
	ctx := context.Background()
	st := sqlitetest.New(f)
	ix, _ := index.NewExtractor(searchparam.Official(), fhirschema.ResourceTypes(), nil)
	svc := New(st, ix, Config{})
	f.Fuzz(func(t *testing.T, typ, rawQuery string) {
		if !fhirschema.IsResourceType(typ) {
			typ = ""
		}
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		for _, strict := range []bool{false, true} {
			sq, _, err := svc.parseSearch(typ, q, strict)
			if err != nil {
				var oe *outcome.Error
				if !errors.As(err, &oe) || oe.Status != 400 {
					t.Fatalf("parse %q: %v is not a 400 outcome", rawQuery, err)
				}
				continue
			}
			for _, d := range []sqlsearch.Dialect{sqlsearch.SQLite, sqlsearch.Postgres} {
				s, err := sqlsearch.BuildSearch(d, sq, time.Now())
				if err != nil {
					if errors.Is(err, sqlsearch.ErrUnsupported) {
						continue
					}
					// Values the parser let through but the builder rejects (an empty
					// range) must be rare and reported, not crash.
					continue
				}
				sql := strings.ReplaceAll(s.Page.SQL+s.Count.SQL, `ESCAPE '\'`, "")
				if strings.ContainsAny(sql, `'"`) || strings.Contains(sql, ";") || strings.Contains(sql, "--") {
					t.Fatalf("query %q produced SQL with literal text: %s", rawQuery, sql)
				}
			}
			if _, err := st.Search(ctx, sq); err != nil && !errors.Is(err, sqlsearch.ErrUnsupported) {
				var oe *outcome.Error
				if !errors.As(err, &oe) && !isBuildError(err) {
					t.Fatalf("query %q failed in the database: %v", rawQuery, err)
				}
			}
		}
	})
}

// isBuildError reports errors sqlsearch raises for values it cannot turn into a range.
func isBuildError(err error) bool {
	return strings.Contains(err.Error(), "sqlsearch:")
}
