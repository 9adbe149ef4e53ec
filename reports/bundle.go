package reports

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"
)

// BundleInfo is what a support bundle says about the machine; the command
// gathers it (this package reads no environment).
type BundleInfo struct {
	// OS names the operating system and its version, as the machine
	// describes itself ("Debian GNU/Linux 12 (bookworm); kernel 6.1.0-28").
	OS string
	// ProxyVariables are the names of the proxy variables set
	// (HTTPS_PROXY, no_proxy, ...). Never their values: a proxy URL may
	// hold a password.
	ProxyVariables []string
}

// The entries of a support bundle.
const (
	bundleReadme = "README.txt"
	bundleConfig = "config.json"
	bundleSystem = "system.json"
	bundleCerts  = "certificates.json"
	bundleLog    = "log.txt"
)

// WriteBundle writes a support bundle (a zip) for a service-desk ticket: the
// JSON report, the effective configuration with each secret replaced by where
// it came from, the tool and OS versions, the names of the proxy variables
// set, the certificates' subjects and fingerprints (never keys) and the run's
// log. Every entry goes through the run's redactor. Entries carry the run's
// start time, so the same run makes the same bundle.
func WriteBundle(w io.Writer, r *Run, info BundleInfo) error {
	zw := zip.NewWriter(w)
	entries := []struct {
		name  string
		write func(io.Writer) error
	}{
		{bundleReadme, func(w io.Writer) error { return writeBundleReadme(w, r) }},
		{FileJSON, func(w io.Writer) error { return WriteJSON(w, r) }},
		{bundleConfig, func(w io.Writer) error {
			return writeJSONDoc(w, r, func(r *Run) any { return effectiveConfig(r.Target) })
		}},
		{bundleSystem, func(w io.Writer) error {
			return writeJSONDoc(w, r, func(r *Run) any { return systemDoc(r, info) })
		}},
		{bundleCerts, func(w io.Writer) error {
			return writeJSONDoc(w, r, func(r *Run) any {
				if certs := r.Target.Certificates(); certs != nil {
					return certs
				}
				return []CertificateInfo{}
			})
		}},
		{bundleLog, func(w io.Writer) error { return WriteLog(w, r) }},
	}
	for _, e := range entries {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: r.Started.UTC()})
		if err != nil {
			return fmt.Errorf("bundle %s: %w", e.name, err)
		}
		if err := e.write(f); err != nil {
			return fmt.Errorf("bundle %s: %w", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

func writeJSONDoc(w io.Writer, r *Run, doc func(*Run) any) error {
	return render(w, r, func(r *Run, b *bytes.Buffer) error {
		enc := json.NewEncoder(b)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(doc(r))
	})
}

// config is the effective configuration, as the bundle shows it.
type config struct {
	Target
	// Secrets say, for each secret, where it came from or "not set".
	Secrets map[string]string `json:"secrets"`
}

func effectiveConfig(t Target) config {
	c := config{Target: t, Secrets: map[string]string{}}
	for _, name := range []string{"password", "shared_key", "keystore_password", "proxy_password"} {
		if from, ok := t.Sources[name]; ok {
			c.Secrets[name] = "set, from " + from
		} else {
			c.Secrets[name] = "not set"
		}
	}
	return c
}

func systemDoc(r *Run, info BundleInfo) any {
	proxies := append([]string{}, info.ProxyVariables...)
	sort.Strings(proxies)
	return struct {
		Tool           Tool     `json:"tool"`
		GoVersion      string   `json:"go_version"`
		OS             string   `json:"os"`
		ProxyVariables []string `json:"proxy_variables_set"`
	}{r.Tool, runtime.Version(), info.OS, proxies}
}

func writeBundleReadme(w io.Writer, r *Run) error {
	return render(w, r, func(r *Run, b *bytes.Buffer) error {
		fmt.Fprintf(b, "meshdoctor support bundle\n\n%s\nStarted %s; %s\n\n",
			Heading(r), r.Started.UTC().Format(time.RFC3339), r.Line())
		fmt.Fprintf(b, `%-18s the run's report (schema %d)
%-18s the effective configuration; each secret replaced by where it came from
%-18s meshdoctor, Go and OS versions; the names (not values) of proxy variables set
%-18s subjects and SHA-256 fingerprints of the client and CA certificates (no keys)
%-18s the run's log: every check with its duration and evidence

No password, shared key, keystore password, private key or token HMAC is in this
bundle: every entry was written through meshdoctor's redaction.
`, FileJSON, Schema, bundleConfig, bundleSystem, bundleCerts, bundleLog)
		return nil
	})
}

// WriteLog writes the run's log: the heading and start, then each check in
// report order with its status, duration, summary, remediation and evidence,
// then the verdict.
func WriteLog(w io.Writer, r *Run) error {
	return render(w, r, func(r *Run, b *bytes.Buffer) error {
		r = r.mapTexts(printable)
		start := r.Started.UTC()
		fmt.Fprintf(b, "%s start %s\n", start.Format(time.RFC3339Nano), Heading(r))
		fmt.Fprintf(b, "%s tool %s %s %s/%s\n", start.Format(time.RFC3339Nano), r.Tool.Name, r.Tool.Version, r.Tool.OS, r.Tool.Arch)
		for _, res := range r.Checks {
			fmt.Fprintf(b, "check %s %s in %ss: %s\n", res.ID, res.Status, junitTime(res.Duration), res.Summary)
			if res.Remediation != "" {
				fmt.Fprintf(b, "  fix: %s\n", res.Remediation)
			}
			for _, f := range res.Evidence {
				fmt.Fprintf(b, "  %s: %s\n", f.Key, strings.ReplaceAll(f.Value, "\n", "\n    "))
			}
		}
		writeConformanceLog(b, r)
		fmt.Fprintf(b, "%s end after %ss: %s\n", start.Add(r.Duration).Format(time.RFC3339Nano), junitTime(r.Duration), r.Line())
		return nil
	})
}
