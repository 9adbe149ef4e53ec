package checks

// catalogue is the table of checks, in the order they are reported. Adding
// a check is one file and one line here.
func catalogue() []Check {
	return []Check{
		targetEligibility,
		authCredentials,
		keystoreLoad,
		keystoreSHA2,
		certClient,
		certTrust,
		dnsResolve,
		tcpConnect,
		tlsServer,
		tlsClientAuth,
		authClock,
		meshHandshake,
		meshInbox,
		geoSourceIP,
	}
}
