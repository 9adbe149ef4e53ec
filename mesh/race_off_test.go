//go:build !race

package mesh

// raceEnabled: the race detector drops pooled items at random, so
// allocation counts mean nothing under it.
const raceEnabled = false
