package checks

import "context"

var targetEligibility = Check{
	ID:      "target.eligibility",
	Title:   "The environment, route and method exist and are open to the MESH API",
	Offline: true,
	Run: func(ctx context.Context, f *Facts) Verdict {
		return Skipf("not written yet")
	},
}
