package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/internal/buildinfo"
)

// versionReport is `version --format json`: the build information with the
// schema number every JSON output of meshdoctor carries.
type versionReport struct {
	Schema int `json:"schema"`
	buildinfo.Info
}

func (a *app) versionCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print meshdoctor's version, commit, build date, Go version and platform",
		Long: `Print which meshdoctor this is: its version, the commit it was built from (and
whether the work tree had uncommitted changes), the commit's date (a release
build's date), the Go release that built it, and the platform.

The same version is sent to MESH in mex-ClientVersion and the User-Agent, and
written into every report. --version prints the same line.`,
		Example: "  meshdoctor version\n  meshdoctor version --format json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := buildinfo.Get()
			switch format {
			case "text":
				fmt.Fprintf(a.stdout, "meshdoctor %s\n", info)
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(versionReport{Schema: 1, Info: info}); err != nil {
					return cannotRunError{err}
				}
			default:
				return usagef("--format %q: want text or json", format)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output on stdout: text or json")
	return cmd
}
