package config

import (
	"reflect"
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
		{"defaults", nil, nil, Config{HTTPAddr: ":8080", DataDir: "./data", BaseURL: "http://localhost:8080/fhir", MaxBodyBytes: 16 << 20, LogLevel: "info", ShutdownTimeout: 30 * time.Second, Migrate: true, MLLPAddr: ":2575", MLLPMaxBytes: 16 << 20, MLLPIdleTimeout: 5 * time.Minute}},
		{"environment", nil, env, Config{HTTPAddr: ":9000", DataDir: "./data", DatabaseURL: "postgres://db/x", BaseURL: "http://localhost:9000/fhir", MaxBodyBytes: 1024, LogLevel: "info", ShutdownTimeout: 30 * time.Second, Migrate: true, MLLPAddr: ":2575", MLLPMaxBytes: 16 << 20, MLLPIdleTimeout: 5 * time.Minute}},
		{"flags win", []string{"--http-addr", "127.0.0.1:7000", "--base-url", "https://fhir.example.cn/fhir/", "--max-body-bytes", "2048"}, env,
			Config{HTTPAddr: "127.0.0.1:7000", DataDir: "./data", DatabaseURL: "postgres://db/x", BaseURL: "https://fhir.example.cn/fhir", MaxBodyBytes: 2048, LogLevel: "info", ShutdownTimeout: 30 * time.Second, Migrate: true, MLLPAddr: ":2575", MLLPMaxBytes: 16 << 20, MLLPIdleTimeout: 5 * time.Minute}},
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
			if !reflect.DeepEqual(c, tt.want) {
				t.Errorf("got %+v\nwant %+v", c, tt.want)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	for _, args := range [][]string{{"--base-url", "not a url"}, {"--log-level", "loud"}, {"--max-body-bytes", "0"},
		{"--mllp-max-bytes", "0"}, {"--mllp-idle-timeout", "0s"}, {"--mllp-tls-cert", "a.pem"},
		{"--mllp-client-ca", "ca.pem"}, {"--mllp-allow-client", "cn:x"}} {
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

func TestMLLP(t *testing.T) {
	env := map[string]string{"FHIRGW_MLLP_ALLOW_CLIENT": "cn:a, sha256:00", "FHIRGW_MLLP_IDLE_TIMEOUT": "1m", "FHIRGW_MLLP_ADDR": ":3000"}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		allow    []string
		addr     string
		idle     time.Duration
		maxBytes int64
		tlsOn    bool
	}{
		{"environment", []string{"--mllp-tls-cert", "c", "--mllp-tls-key", "k"}, env, []string{"cn:a", "sha256:00"}, ":3000", time.Minute, 16 << 20, true},
		{"flags replace the environment's list and repeat", []string{"--mllp-tls-cert", "c", "--mllp-tls-key", "k", "--mllp-allow-client", "cn:b,cn:c", "--mllp-allow-client", "cn:d", "--mllp-addr", "", "--mllp-max-bytes", "1024"}, env, []string{"cn:b", "cn:c", "cn:d"}, "", time.Minute, 1024, true},
		{"off", []string{"--mllp-addr="}, nil, nil, "", 5 * time.Minute, 16 << 20, false},
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
			if !reflect.DeepEqual(c.MLLPAllowClient, tt.allow) || c.MLLPAddr != tt.addr || c.MLLPIdleTimeout != tt.idle || c.MLLPMaxBytes != tt.maxBytes || c.MLLPTLS() != tt.tlsOn {
				t.Errorf("got allow %q addr %q idle %v max %d tls %v", c.MLLPAllowClient, c.MLLPAddr, c.MLLPIdleTimeout, c.MLLPMaxBytes, c.MLLPTLS())
			}
		})
	}
}
