package checks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Families are the first part of a check ID. Scripts and CI filter on IDs, so
// an ID, once released, never changes.
var families = []string{"target", "dns", "tcp", "tls", "keystore", "cert", "auth", "mesh", "geo"}

// Check is one diagnostic.
type Check struct {
	// ID is "family.name", stable across releases.
	ID string
	// Title says what is checked, for a person ("DNS resolves the MESH host").
	Title string
	// Needs are checks that must pass (or warn) first; when one fails, errors
	// or is skipped, this check is skipped and the skip names the cause.
	Needs []string
	// After are checks whose results this one reads when they ran (through
	// Facts.Result), without being skipped by their failure: a TLS check
	// that names an identity finding as the first cause, say.
	After []string
	// Offline checks judge files and configuration only; they never touch
	// the network.
	Offline bool
	// Run judges the target. It returns a verdict; the runner adds the ID,
	// title and duration. It must honour ctx.
	Run func(ctx context.Context, f *Facts) Verdict
}

// Family is the part of the ID before the dot.
func (c Check) Family() string { return strings.SplitN(c.ID, ".", 2)[0] }

// Catalogue returns every check, in the order they are reported.
func Catalogue() []Check { return slices.Clone(catalogue()) }

// Lookup finds a check by ID.
func Lookup(id string) (Check, bool) {
	for _, c := range catalogue() {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// UnknownIDError is a check ID that is not in the catalogue.
type UnknownIDError struct {
	ID    string
	Known []string
}

func (e *UnknownIDError) Error() string {
	return fmt.Sprintf("unknown check %q; the checks are: %s", e.ID, strings.Join(e.Known, ", "))
}

// Select returns the checks to run: those named by only (all when empty)
// with everything they need, less those named by skip. Unknown IDs are an
// *UnknownIDError. A family name ("tls") stands for every check in it.
func Select(only, skip []string) ([]Check, error) {
	all := catalogue()
	ids := make([]string, len(all))
	for i, c := range all {
		ids[i] = c.ID
	}
	expand := func(names []string) (map[string]bool, error) {
		set := map[string]bool{}
		for _, n := range names {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			matched := false
			for _, c := range all {
				if c.ID == n || c.Family() == n {
					set[c.ID] = true
					matched = true
				}
			}
			if !matched {
				return nil, &UnknownIDError{ID: n, Known: ids}
			}
		}
		return set, nil
	}
	want, err := expand(only)
	if err != nil {
		return nil, err
	}
	drop, err := expand(skip)
	if err != nil {
		return nil, err
	}
	for id := range want {
		if drop[id] {
			return nil, fmt.Errorf("%s is named by both --only and --skip: keep one", id)
		}
	}
	if len(want) > 0 {
		// Close over Needs: a check is meaningless without what it needs.
		for changed := true; changed; {
			changed = false
			for _, c := range all {
				if !want[c.ID] {
					continue
				}
				for _, n := range c.Needs {
					if !want[n] {
						want[n] = true
						changed = true
					}
				}
			}
		}
	}
	var out []Check
	for _, c := range all {
		if (len(want) == 0 || want[c.ID]) && !drop[c.ID] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, ErrNothingSelected
	}
	return out, nil
}

// ErrNothingSelected is a selection that leaves no check to run (--skip
// undoing all of --only): a run that checks nothing would pass.
var ErrNothingSelected = errors.New("--only and --skip leave no check to run")

// validateCatalogue is run by the tests: IDs well formed and unique,
// dependencies known and acyclic.
func validateCatalogue(all []Check) error {
	seen := map[string]bool{}
	for _, c := range all {
		fam, name, ok := strings.Cut(c.ID, ".")
		if !ok || name == "" || !slices.Contains(families, fam) {
			return fmt.Errorf("check ID %q is not family.name with a family of %v", c.ID, families)
		}
		if seen[c.ID] {
			return fmt.Errorf("check ID %q registered twice", c.ID)
		}
		seen[c.ID] = true
		if c.Title == "" || c.Run == nil {
			return fmt.Errorf("check %s has no title or no function", c.ID)
		}
	}
	for _, c := range all {
		for _, d := range append(slices.Clone(c.Needs), c.After...) {
			if !seen[d] {
				return fmt.Errorf("check %s depends on unknown check %s", c.ID, d)
			}
		}
	}
	if _, err := order(all); err != nil {
		return err
	}
	return nil
}

// order sorts checks so that every check comes after what it depends on,
// keeping catalogue order otherwise.
func order(cs []Check) ([]Check, error) {
	index := map[string]int{}
	for i, c := range cs {
		index[c.ID] = i
	}
	state := make([]int, len(cs)) // 0 new, 1 visiting, 2 done
	var out []Check
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("checks depend on each other in a cycle through %s", cs[i].ID)
		case 2:
			return nil
		}
		state[i] = 1
		deps := append(slices.Clone(cs[i].Needs), cs[i].After...)
		sort.SliceStable(deps, func(a, b int) bool { return index[deps[a]] < index[deps[b]] })
		for _, d := range deps {
			if j, ok := index[d]; ok {
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		state[i] = 2
		out = append(out, cs[i])
		return nil
	}
	for i := range cs {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}
