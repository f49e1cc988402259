package fdbudget

import "fmt"

// The shares of the open-file limit (see the package comment).
const (
	// MinReserve is the reserve of every limit of at least twice it.
	MinReserve = 256
	// ReservePercent of the limit is the reserve when that is more.
	ReservePercent = 10
	// ShortLivedPercent of what probes may use is for short-lived
	// connections, and at least MinShortLived of it (at most half).
	ShortLivedPercent = 10
	MinShortLived     = 64
)

// Plan is how one open-file limit is divided.
type Plan struct {
	Limit      int // the open-file limit divided (the soft RLIMIT_NOFILE)
	Reserve    int // never used by probes
	Kept       int // connections kept open across probes, one per instance address
	ShortLived int // short-lived probe connections open at once
}

// PlanFor divides limit.
func PlanFor(limit int) Plan {
	limit = max(limit, 0)
	reserve := max(min(MinReserve, limit/2), percent(limit, ReservePercent))
	probes := limit - reserve
	short := max(percent(probes, ShortLivedPercent), min(MinShortLived, probes/2))
	return Plan{Limit: limit, Reserve: reserve, Kept: probes - short, ShortLived: short}
}

// percent is p% of n, rounded down, without overflowing for any n >= 0.
func percent(n, p int) int { return n/100*p + n%100*p/100 }

// LimitFor is the smallest open-file limit whose plan keeps kept
// connections open.
func LimitFor(kept int) int {
	lo, hi := 0, 1
	for PlanFor(hi).Kept < kept {
		lo, hi = hi, hi*2
	}
	for lo < hi { // PlanFor(hi).Kept >= kept; the plan grows with the limit
		mid := lo + (hi-lo)/2
		if PlanFor(mid).Kept >= kept {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return hi
}

// Fit is how a fleet that wants Wanted kept connections fits a plan.
type Fit struct {
	Plan
	Wanted     int // kept connections the fleet wants: one per instance address
	KeptFit    int // of those, how many are kept
	Overflow   int // instance addresses probed on short-lived connections instead
	LimitToFit int // the open-file limit at which every one would be kept
}

// Fit reports how a fleet wanting wanted kept connections fits p.
func (p Plan) Fit(wanted int) Fit {
	kept := min(wanted, p.Kept)
	return Fit{Plan: p, Wanted: wanted, KeptFit: kept, Overflow: wanted - kept, LimitToFit: LimitFor(wanted)}
}

// Fits reports whether every wanted connection is kept.
func (f Fit) Fits() bool { return f.Overflow == 0 }

// Warning says, when the fleet does not fit, what that costs and what to
// do; "" when it fits.
func (f Fit) Warning() string {
	if f.Fits() {
		return ""
	}
	return fmt.Sprintf("the fleet does not fit the open-file limit: it keeps one connection per instance address "+
		"(%d), but a limit of %d keeps %d (%d are reserved for vigil's listeners, clients and files, %d for "+
		"short-lived connections); the other %d instance addresses are probed on short-lived connections, "+
		"opened and closed for every probe, which costs more CPU per probe. Raise the limit to at least %d "+
		"(LimitNOFILE= in the systemd unit, ulimit -n in a shell, nofile in limits.conf or the container runtime)",
		f.Wanted, f.Limit, f.Kept, f.Reserve, f.ShortLived, f.Overflow, f.LimitToFit)
}
