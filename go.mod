module github.com/meshdoctor/meshdoctor

go 1.26

require (
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	golang.org/x/crypto v0.11.0 // indirect
)
