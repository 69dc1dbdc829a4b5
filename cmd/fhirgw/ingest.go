package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/app"
	"github.com/shch/fhirgw/gateway/config"
	"github.com/shch/fhirgw/gateway/ingest"
)

// ingestFiles runs the messages of each file (one message, or a batch) through the
// pipeline on the configured store, printing one line per message.
func ingestFiles(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg config.Config
	fs := cfg.FlagSet("ingest", getenv)
	fs.SetOutput(stderr)
	channel := fs.String("channel", "file", "channel recorded with the messages (selects a charset in the HL7 config)")
	charset := fs.String("charset", "", "character set of the files when MSH-18 is absent or wrong (GB18030, UTF-8...)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fhirgw ingest [flags] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Finish(); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		fs.Usage()
		return errors.New("ingest: no file given")
	}
	if *charset != "" {
		if _, err := hl7v2.LookupCharset(*charset); err != nil {
			return fmt.Errorf("ingest: --charset: %w", err)
		}
	}
	icfg, err := app.LoadHL7Config(cfg.HL7Config)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.Migrate {
		if err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate %s store: %w", cfg.StoreKind(), err)
		}
	}
	gw := app.New(st, app.Options{BaseURL: cfg.BaseURL, MaxBody: cfg.MaxBodyBytes, Version: version, Log: log, Ingest: icfg})
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := gw.Start(sctx); err != nil {
		return err
	}

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tINDEX\tCONTROL ID\tTYPE\tACK\tREASON")
	total, failed, problems := 0, 0, 0
	for _, name := range files {
		if ctx.Err() != nil {
			break
		}
		data, err := os.ReadFile(name)
		var batch hl7v2.Batch
		if err == nil {
			batch, err = hl7v2.ReadBatch(data)
		}
		// Problems of the file itself (skipped lines, trailer counts that
		// say messages were lost) are lines of the report, in file order
		// among the messages, and fail the run like a refused message.
		w := 0
		warnUntil := func(line int) {
			for ; w < len(batch.Warnings) && batch.Warnings[w].Line < line; w++ {
				problems++
				fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\n", name, oneLine(batch.Warnings[w].String()))
			}
		}
		if err != nil {
			warnUntil(math.MaxInt)
			failed++
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\n", name, oneLine(err.Error()))
			continue
		}
		for i, raw := range batch.Messages {
			warnUntil(batch.Lines[i])
			total++
			out := gw.Pipeline.Process(ctx, ingest.Inbound{Channel: *channel, Raw: raw, Remote: "file:" + name, Charset: *charset})
			id, typ := "-", "-"
			if m, err := hl7v2.Parse(raw, parseOpts(*charset)...); err == nil {
				id, typ = orDash(m.ControlID()), orDash(messageType(m))
			}
			// The application outcome: in enhanced mode the commit ACK (CA) says only
			// that the message was stored, not that it was applied.
			if out.AppCode != "AA" {
				failed++
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", name, i+1, id, typ, orDash(out.AppCode), oneLine(out.Reason))
		}
		warnUntil(math.MaxInt)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d messages, %d not accepted, %d file problems (%s store)\n", total, failed, problems, cfg.StoreKind())
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ingest interrupted: %w", err)
	}
	if failed > 0 || problems > 0 {
		return fmt.Errorf("ingest: %d of %d messages (or files) not accepted, %d file problems", failed, total, problems)
	}
	return nil
}

func parseOpts(charset string) []hl7v2.Option {
	if charset == "" {
		return nil
	}
	return []hl7v2.Option{hl7v2.WithCharset(charset)}
}

// messageType is "ADT^A01" from MSH-9.
func messageType(m *hl7v2.Message) string {
	code, trigger, _ := m.Type()
	if trigger == "" {
		return code
	}
	return code + "^" + trigger
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
