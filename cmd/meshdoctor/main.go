// Command meshdoctor tells an NHS organisation whether it can really exchange
// messages over MESH, and if not, why and what to do.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
