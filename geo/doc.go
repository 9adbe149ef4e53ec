// Package geo answers one question of the PTL guide: is the address this
// connection leaves from a UK address, as MESH over the internet requires?
//
// It finds a GeoIP country database (MaxMind GeoIP2/GeoLite2 Country or City,
// DB-IP Country Lite, or the flat country_code schema of ip-location-db),
// looks addresses up in it, discovers the egress address that MESH would see
// (HTTPS "what is my IP" services through the same proxy as MESH traffic, then
// DNS methods), tells private, loopback and CGNAT addresses apart, and
// downloads the free DB-IP Country Lite database into the user's cache.
package geo
