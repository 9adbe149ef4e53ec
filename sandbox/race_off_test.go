//go:build !race

package sandbox

// raceEnabled: the race detector drops pooled items at random, so
// allocation counts mean nothing under it.
const raceEnabled = false
