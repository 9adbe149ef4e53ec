package geo

import (
	"fmt"
	"net/netip"
	"strings"
)

// Scope says whether an address can be the one MESH sees.
type Scope string

// Address scopes. Only Public addresses are seen by servers on the internet.
const (
	Public      Scope = "public"
	Private     Scope = "private"  // RFC 1918, IPv6 unique local
	CGNAT       Scope = "CGNAT"    // RFC 6598 shared address space
	Loopback    Scope = "loopback" // this machine
	LinkLocal   Scope = "link-local"
	Unspecified Scope = "unspecified"
	Multicast   Scope = "multicast"
	Reserved    Scope = "reserved" // documentation, benchmarking and other special-purpose blocks
)

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("100::/64"),
}

// ScopeOf classifies an address.
func ScopeOf(a netip.Addr) Scope {
	a = a.Unmap()
	switch {
	case a.IsUnspecified():
		return Unspecified
	case a.IsLoopback():
		return Loopback
	case a.IsPrivate():
		return Private
	case cgnat.Contains(a):
		return CGNAT
	case a.IsLinkLocalUnicast():
		return LinkLocal
	case a.IsMulticast():
		return Multicast
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return Reserved
		}
	}
	return Public
}

// Describe says in words why a non-public address is not the one MESH sees.
func (s Scope) Describe() string {
	switch s {
	case Private:
		return "a private address (RFC 1918 or IPv6 unique local)"
	case CGNAT:
		return "a carrier-grade NAT address (100.64.0.0/10, RFC 6598)"
	case Loopback:
		return "a loopback address (this machine)"
	case LinkLocal:
		return "a link-local address"
	case Unspecified:
		return "the unspecified address"
	case Multicast:
		return "a multicast address"
	case Reserved:
		return "a reserved address (documentation or special-purpose)"
	}
	return "a public address"
}

// ParseAddr reads an IP address a user typed, with an error that says what
// was wrong in one line.
func ParseAddr(s string) (netip.Addr, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimPrefix(t, "["), "]")
	a, err := netip.ParseAddr(t)
	if err != nil {
		if p, perr := netip.ParsePrefix(t); perr == nil {
			return netip.Addr{}, fmt.Errorf("%q is a network, not an address: give one address, such as %s", s, p.Addr())
		}
		return netip.Addr{}, fmt.Errorf("%q is not an IP address (want an IPv4 address such as 81.2.69.142, or an IPv6 one)", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has an IPv6 zone: a zoned address is link-local, never the one MESH sees", s)
	}
	return a.Unmap(), nil
}
