package main

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/vigilhq/vigil/aggregator/probe"
	"github.com/vigilhq/vigil/internal/fdbudget"
	"github.com/vigilhq/vigil/upstreams"
)

// openFileBudget divides vigil's open-file limit into the fd budget of
// probe connections (see internal/fdbudget). Go has already raised the
// soft limit to the hard one when the process started, so vigil does not
// raise it again: it reports both. Nil when the limit cannot be read;
// probe connections are then not bounded.
func openFileBudget(log *slog.Logger) *fdbudget.Budget {
	soft, hard, err := fdbudget.ProcessLimit()
	if err != nil {
		log.Warn("open-file limit unknown: probe connections are not bounded", "error", err)
		return nil
	}
	plan := fdbudget.PlanFor(soft)
	args := []any{"limit", soft, "hard_limit", hard, "reserve", plan.Reserve, "kept_connections", plan.Kept,
		"short_lived_connections", plan.ShortLived}
	if soft < hard {
		log.Warn("open-file limit: the soft limit is below the hard limit (Go raises it to the hard limit at start; it could not)", args...)
	} else {
		log.Info("open-file limit (the soft limit, raised to the hard limit at start)", args...)
	}
	return fdbudget.New(plan)
}

// fleetFit is how clusters fit plan: one kept connection per instance
// address (discovered instances count once they are known).
func fleetFit(plan fdbudget.Plan, clusters []upstreams.Cluster) fdbudget.Fit {
	return plan.Fit(probe.KeptConnections(clusters))
}

// fitNotes is what vigil last said about its fleet and the open-file
// limit, so that discovery updates say it again only when it changes.
type fitNotes struct {
	mu   sync.Mutex
	said bool // something was said
	fits bool // what
}

// note warns, with the numbers and what to do, when clusters do not fit
// the budget's plan, and says so when they do: always at start and on
// reload, and on a discovery update only when that changes whether they
// fit.
func (n *fitNotes) note(log *slog.Logger, b *fdbudget.Budget, clusters []upstreams.Cluster, when string, always bool) {
	if b == nil {
		return
	}
	fit := fleetFit(b.Plan(), clusters)
	n.mu.Lock()
	repeat := n.said && n.fits == fit.Fits()
	n.said, n.fits = true, fit.Fits()
	n.mu.Unlock()
	if repeat && !always {
		return
	}
	if fit.Fits() {
		log.Info("the fleet fits the open-file limit", "when", when, "kept_connections", fit.Wanted, "limit", fit.Limit)
		return
	}
	log.Warn(fit.Warning(), "when", when, "kept_connections_wanted", fit.Wanted, "kept", fit.KeptFit,
		"short_lived_instance_addresses", fit.Overflow, "limit", fit.Limit, "limit_to_fit", fit.LimitToFit)
}

// validateFit is vigil validate's word on the open-file limit: "" when the
// static fleet fits the limit of the process validating it.
func validateFit(clusters []upstreams.Cluster) string {
	soft, _, err := fdbudget.ProcessLimit()
	if err != nil {
		return ""
	}
	fit := fleetFit(fdbudget.PlanFor(soft), clusters)
	if fit.Fits() {
		return ""
	}
	return fmt.Sprintf("warning: %s (checked against this process's open-file limit, %d; vigil checks its own when it starts)", fit.Warning(), soft)
}
