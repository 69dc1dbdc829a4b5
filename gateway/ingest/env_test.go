package ingest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/pgtest"
	"github.com/shch/fhirgw/gateway/store/postgres"
	"github.com/shch/fhirgw/gateway/store/sqlite"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

var storeKinds = []string{"sqlite", "postgres"}

// env is a pipeline over a fresh store.
type env struct {
	t   testing.TB
	ctx context.Context
	st  store.Store
	svc *interaction.Service
	p   *Pipeline
	now atomic.Int64 // unix microseconds of the pipeline clock
}

type migrator interface {
	store.Store
	Migrate(context.Context) error
}

func openStore(t testing.TB, kind string) migrator {
	t.Helper()
	ctx := context.Background()
	var st migrator
	switch kind {
	case "sqlite":
		s, err := sqlite.Open(ctx, t.TempDir())
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		st = s
	case "postgres":
		s, err := postgres.Open(ctx, pgtest.NewDatabase(t))
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		st = s
	default:
		t.Fatalf("unknown store %q", kind)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", kind, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var testIndexer = func() *index.Extractor {
	ix, _ := index.NewExtractor(searchparam.Official(), fhirschema.ResourceTypes(), nil)
	return ix
}()

func newEnv(t testing.TB, kind string, cfg Config) *env {
	t.Helper()
	st := openStore(t, kind)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := interaction.New(st, testIndexer, interaction.Config{Log: log})
	e := &env{t: t, ctx: context.Background(), st: st, svc: svc}
	// After the test messages' event times (March 2024): messages arrive after what
	// they report, or the pipeline takes their event times for wrong clocks.
	e.now.Store(time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	cfg.Now = func() time.Time { return time.UnixMicro(e.now.Add(1000)) }
	cfg.Log = log
	e.p = New(st, svc, cfg)
	return e
}

func (e *env) process(raw string) Outcome {
	e.t.Helper()
	return e.p.Process(e.ctx, Inbound{Channel: "test", Raw: []byte(raw), Remote: "127.0.0.1:1"})
}

// ack parses an acknowledgment and checks MSA-1.
func (e *env) ack(b []byte, code string) *hl7v2.Message {
	e.t.Helper()
	m, err := hl7v2.Parse(b)
	if err != nil {
		e.t.Fatalf("ACK does not parse: %v\n%q", err, b)
	}
	if got := m.Get("MSA-1"); got != code {
		e.t.Fatalf("MSA-1 = %q, want %q; ACK %q", got, code, b)
	}
	return m
}

func (e *env) message(id string) store.Message {
	e.t.Helper()
	m, err := e.st.ReadMessage(e.ctx, id)
	if err != nil {
		e.t.Fatalf("read message %s: %v", id, err)
	}
	return m
}

func (e *env) read(typ, id string) store.Resource {
	e.t.Helper()
	r, err := e.st.Read(e.ctx, typ, id)
	if err != nil {
		e.t.Fatalf("read %s/%s: %v", typ, id, err)
	}
	return r
}

// patientsWith finds the Patients carrying identifier system|value.
func (e *env) patientsWith(system, value string) []store.Resource {
	e.t.Helper()
	page, err := e.st.Search(e.ctx, store.Query{Type: "Patient", Count: 10, Where: []store.Clause{{
		Param: "identifier", Kind: store.KindToken, Tokens: []store.TokenMatch{{System: system, Code: value}},
	}}})
	if err != nil {
		e.t.Fatalf("search: %v", err)
	}
	return page.Resources
}

// produced returns the ids of the resources of type typ a message produced.
func produced(m store.Message, typ string) []string {
	var ids []string
	for _, r := range m.Resources {
		parts := strings.Split(r, "/")
		if len(parts) >= 2 && parts[0] == typ {
			ids = append(ids, parts[1])
		}
	}
	return ids
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

func identifiers(t testing.TB, body []byte) []identifier {
	t.Helper()
	var p struct {
		Identifier []identifier `json:"identifier"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p.Identifier
}

const idCardSystem = v2fhir.IDCardSystemWST500

// Messages of the Shanghai network. The hospital registers 张三 with its MRN and his
// ID card; a health kiosk sends blood pressure identified only by an ID card.
const (
	cardZhang = "11010519491231002X"
	cardLi    = "310101199001011234"
)

func hospitalADT(trigger, control, evn, cards string) string {
	return "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|20240301093000||ADT^" + trigger + "^ADT_A01|" + control + "|P|2.4\r" +
		"EVN|" + trigger + "|" + evn + "\r" +
		"PID|1||MRN0012345^^^SQ-CHC-01^MR" + cards + "||张三||19491231|1|||浦东新区张江镇^科苑路88弄3号201室^上海市^上海市^201203^CHN^H^^浦东新区||13800138000^PRN^CP\r" +
		"PV1|1|O|全科门诊||||D001^李医生|||||||||||V20240301001\r"
}

func kioskORU(control, card string) string {
	return "MSH|^~\\&|KIOSK|HUT-0042|FHIRGW|SHCH|20240302081500+0800||ORU^R01^ORU_R01|" + control + "|P|2.5.1\r" +
		"PID|1||" + card + "^^^身份证^NNCHN||李四||19900101|1\r" +
		"OBR|1||" + control + "-1|85354-9^Blood pressure panel^LN|||20240302081200+0800||||||||||||||||||F\r" +
		"OBX|1|NM|8480-6^Systolic blood pressure^LN||132|mm[Hg]^mm[Hg]^UCUM|90-139|N|||F|||20240302081200+0800\r" +
		"OBX|2|NM|8462-4^Diastolic blood pressure^LN||85|mmHg|60-89|N|||F|||20240302081200+0800\r"
}
