package config

import (
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	env := map[string]string{"FHIRGW_HTTP_ADDR": ":9000", "FHIRGW_DATABASE_URL": "postgres://db/x", "FHIRGW_MAX_BODY_BYTES": "1024"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want Config
	}{
		{"defaults", nil, nil, Config{HTTPAddr: ":8080", DataDir: "./data", BaseURL: "http://localhost:8080/fhir", MaxBodyBytes: 16 << 20, LogLevel: "info", ShutdownTimeout: 30 * time.Second, Migrate: true}},
		{"environment", nil, env, Config{HTTPAddr: ":9000", DataDir: "./data", DatabaseURL: "postgres://db/x", BaseURL: "http://localhost:9000/fhir", MaxBodyBytes: 1024, LogLevel: "info", ShutdownTimeout: 30 * time.Second, Migrate: true}},
		{"flags win", []string{"--http-addr", "127.0.0.1:7000", "--base-url", "https://fhir.example.cn/fhir/", "--max-body-bytes", "2048"}, env,
			Config{HTTPAddr: "127.0.0.1:7000", DataDir: "./data", DatabaseURL: "postgres://db/x", BaseURL: "https://fhir.example.cn/fhir", MaxBodyBytes: 2048, LogLevel: "info", ShutdownTimeout: 30 * time.Second, Migrate: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			fs := c.FlagSet("serve", func(k string) string { return tt.env[k] })
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := c.Finish(); err != nil {
				t.Fatal(err)
			}
			if c != tt.want {
				t.Errorf("got %+v\nwant %+v", c, tt.want)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	for _, args := range [][]string{{"--base-url", "not a url"}, {"--log-level", "loud"}, {"--max-body-bytes", "0"}} {
		var c Config
		fs := c.FlagSet("serve", func(string) string { return "" })
		if err := fs.Parse(args); err != nil {
			continue
		}
		if err := c.Finish(); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
