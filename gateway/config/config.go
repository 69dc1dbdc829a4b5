// Package config reads the gateway's configuration from command-line flags, each with
// an environment fallback named FHIRGW_<FLAG> (--http-addr -> FHIRGW_HTTP_ADDR).
// A flag given on the command line wins over the environment, which wins over the default.
package config

import (
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config is everything the gateway process can be told.
type Config struct {
	HTTPAddr        string
	DataDir         string
	DatabaseURL     string
	BaseURL         string
	MaxBodyBytes    int64
	LogLevel        string
	ShutdownTimeout time.Duration
	Migrate         bool // run migrations at start-up
	// DebugAddr, when set, serves net/http/pprof there (keep it on localhost: profiles
	// are not authenticated).
	DebugAddr string

	// MLLP (HL7 v2 over TCP) listener; empty MLLPAddr: off.
	MLLPAddr        string
	MLLPTLSCert     string   // server certificate (PEM); with MLLPTLSKey turns on TLS
	MLLPTLSKey      string   // its private key (PEM)
	MLLPClientCA    string   // CA bundle (PEM) that client certificates must chain to (mutual TLS)
	MLLPAllowClient []string // client certificates admitted: "sha256:<hex>" or "cn:<name>"
	MLLPMaxBytes    int64
	MLLPIdleTimeout time.Duration
	// HL7Config is a JSON file adapting HL7 v2 ingestion (identifier systems per
	// assigning authority and sender, charsets per channel...); empty: defaults.
	HL7Config string
}

// StoreKind names the store the configuration selects.
func (c Config) StoreKind() string {
	if c.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite"
}

// FlagSet returns a flag set bound to c, with defaults and the environment applied.
// getenv is os.Getenv in production.
func (c *Config) FlagSet(name string, getenv func(string) string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	str := func(p *string, flagName, def, usage string) {
		fs.StringVar(p, flagName, envOr(getenv, flagName, def), usage+" (env "+EnvName(flagName)+")")
	}
	str(&c.HTTPAddr, "http-addr", ":8080", "address the FHIR API listens on")
	str(&c.DataDir, "data-dir", "./data", "directory of the embedded store (used when no database URL is given)")
	str(&c.DatabaseURL, "database-url", "", "PostgreSQL URL; when set, PostgreSQL is the store")
	str(&c.BaseURL, "base-url", "", "public FHIR base URL used in Location headers and Bundle links (default http://localhost<http-addr>/fhir)")
	str(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	str(&c.DebugAddr, "debug-addr", "", "address for Go profiling endpoints (/debug/pprof/); empty: off")
	maxBody := envOr(getenv, "max-body-bytes", "16777216")
	fs.Func("max-body-bytes", "largest request body accepted, in bytes (env FHIRGW_MAX_BODY_BYTES; default 16777216)", func(s string) error {
		return setInt64(&c.MaxBodyBytes, s)
	})
	_ = setInt64(&c.MaxBodyBytes, maxBody)
	shutdown := envOr(getenv, "shutdown-timeout", "30s")
	c.ShutdownTimeout, _ = time.ParseDuration(shutdown)
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long in-flight requests may take to finish on SIGTERM (env FHIRGW_SHUTDOWN_TIMEOUT)")
	c.Migrate = envOr(getenv, "migrate", "true") == "true"
	fs.BoolVar(&c.Migrate, "migrate", c.Migrate, "apply schema migrations at start-up (env FHIRGW_MIGRATE)")
	str(&c.MLLPAddr, "mllp-addr", ":2575", "address the MLLP (HL7 v2 over TCP) listener binds; empty: no listener")
	str(&c.MLLPTLSCert, "mllp-tls-cert", "", "PEM certificate chain of the MLLP listener; with --mllp-tls-key, MLLP runs over TLS")
	str(&c.MLLPTLSKey, "mllp-tls-key", "", "PEM private key of the MLLP listener")
	str(&c.MLLPClientCA, "mllp-client-ca", "", "PEM CA bundle MLLP client certificates must chain to (mutual TLS)")
	str(&c.HL7Config, "hl7-config", "", "JSON file configuring HL7 v2 ingestion (identifier systems, senders, channel charsets)")
	c.MLLPAllowClient = splitList(envOr(getenv, "mllp-allow-client", ""))
	envAllow := true // the first flag replaces the environment's list; later ones add to it
	fs.Func("mllp-allow-client", "admit only these MLLP client certificates: sha256:<fingerprint> or cn:<common name>; repeatable or comma-separated (env FHIRGW_MLLP_ALLOW_CLIENT)", func(s string) error {
		if envAllow {
			c.MLLPAllowClient, envAllow = nil, false
		}
		c.MLLPAllowClient = append(c.MLLPAllowClient, splitList(s)...)
		return nil
	})
	_ = setInt64(&c.MLLPMaxBytes, envOr(getenv, "mllp-max-bytes", "16777216"))
	fs.Func("mllp-max-bytes", "largest HL7 v2 message accepted over MLLP, in bytes; a larger one is stored cut to it as rejected and answered AR (env FHIRGW_MLLP_MAX_BYTES; default 16777216)", func(s string) error {
		return setInt64(&c.MLLPMaxBytes, s)
	})
	c.MLLPIdleTimeout, _ = time.ParseDuration(envOr(getenv, "mllp-idle-timeout", "5m"))
	fs.DurationVar(&c.MLLPIdleTimeout, "mllp-idle-timeout", c.MLLPIdleTimeout, "close an MLLP connection after this long without a message (env FHIRGW_MLLP_IDLE_TIMEOUT)")
	return fs
}

// MLLPTLS reports whether the MLLP listener is configured for TLS.
func (c Config) MLLPTLS() bool { return c.MLLPTLSCert != "" || c.MLLPTLSKey != "" }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Finish fills derived values and checks the whole configuration.
func (c *Config) Finish() error {
	if c.MaxBodyBytes <= 0 {
		return fmt.Errorf("config: max-body-bytes must be positive, got %d", c.MaxBodyBytes)
	}
	if c.BaseURL == "" {
		host := c.HTTPAddr
		if strings.HasPrefix(host, ":") {
			host = "localhost" + host
		}
		c.BaseURL = "http://" + host + "/fhir"
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("config: base-url %q must be an absolute URL", c.BaseURL)
	}
	if c.MLLPMaxBytes <= 0 {
		return fmt.Errorf("config: mllp-max-bytes must be positive, got %d", c.MLLPMaxBytes)
	}
	if c.MLLPIdleTimeout <= 0 {
		return fmt.Errorf("config: mllp-idle-timeout must be positive, got %s", c.MLLPIdleTimeout)
	}
	if (c.MLLPTLSCert == "") != (c.MLLPTLSKey == "") {
		return fmt.Errorf("config: mllp-tls-cert and mllp-tls-key go together")
	}
	if !c.MLLPTLS() && (c.MLLPClientCA != "" || len(c.MLLPAllowClient) > 0) {
		return fmt.Errorf("config: mllp-client-ca and mllp-allow-client need TLS (mllp-tls-cert, mllp-tls-key)")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log-level %q is not one of debug, info, warn, error", c.LogLevel)
	}
	return nil
}

// EnvName is the environment variable that backs a flag.
func EnvName(flagName string) string {
	return "FHIRGW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func envOr(getenv func(string) string, flagName, def string) string {
	if v := getenv(EnvName(flagName)); v != "" {
		return v
	}
	return def
}

func setInt64(p *int64, s string) error {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return fmt.Errorf("not an integer: %q", s)
	}
	*p = n
	return nil
}
